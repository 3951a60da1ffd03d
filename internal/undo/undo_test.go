package undo

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

func TestRunUndoesLastFirstAndKeepsGoing(t *testing.T) {
	var s Stack
	var order []int
	errTwo := errors.New("two failed")
	for i := 1; i <= 3; i++ {
		s.Push(func(context.Context) error {
			order = append(order, i)
			if i == 2 {
				return errTwo
			}
			return nil
		})
	}
	err := s.Run(context.Background())
	if !errors.Is(err, errTwo) {
		t.Errorf("error %v, want it to carry %v", err, errTwo)
	}
	if !reflect.DeepEqual(order, []int{3, 2, 1}) {
		t.Errorf("ran %v, want 3 2 1", order)
	}
	if err := s.Run(context.Background()); err != nil || len(order) != 3 {
		t.Errorf("second Run: %v, ran %v: want nothing more", err, order)
	}
}
