// Package undo collects the steps that reverse a setup of several steps
// (disks attached, shares added, mounts made), so that a failure half-way,
// or the end of what was set up, undoes them last first.
package undo

import (
	"context"
	"errors"
)

// Stack is the undo steps of a setup, in the order they were pushed.
type Stack struct {
	steps []func(context.Context) error
}

// Push records the step that undoes the setup step just done.
func (s *Stack) Push(step func(context.Context) error) {
	s.steps = append(s.steps, step)
}

// Run runs every step, last pushed first, even after one fails, and joins
// their errors. The stack is empty afterwards.
func (s *Stack) Run(ctx context.Context) error {
	var errs []error
	for i := len(s.steps) - 1; i >= 0; i-- {
		errs = append(errs, s.steps[i](ctx))
	}
	s.steps = nil
	return errors.Join(errs...)
}
