//go:build !linux

package main

// runPauseIfAsked: pods without a pause container hold their namespaces
// this way on Linux only.
func runPauseIfAsked() {}
