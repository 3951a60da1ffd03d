//go:build !linux

package main

import (
	"context"

	"google.golang.org/protobuf/types/known/anypb"

	optionsv1 "github.com/winctr/winctr/protos/options/v1"
)

// runtimeFeatures reports no OCI features document: HCS has none.
func runtimeFeatures(context.Context, *optionsv1.Options) (*anypb.Any, error) {
	return nil, nil
}
