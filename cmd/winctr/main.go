//go:build linux

// Command winctr is the operator's tool for a node running winctr's
// shim: check the host, list the pods, read a VM's logs, dump
// goroutines, open a shell in a VM's guest, and print versions. It
// reads the shims' state on the node and talks to the shims' debug
// sockets; it does not need containerd.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand.
type command struct {
	short   string // one line for winctr's list of commands
	summary string
	usage   string // the arguments after the flags
	run     func(c *cli, fs *flag.FlagSet, args []string) error
	flags   func(fs *flag.FlagSet)
}

var commands = map[string]command{
	"version": versionCommand,
	"check":   checkCommand,
	"ps":      psCommand,
	"logs":    logsCommand,
	"stacks":  stacksCommand,
	"shell":   shellCommand,
}

// cli is what every subcommand shares: its streams and output format.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	format         string
}

// exitError carries a subcommand's exit status without more to print.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "-v" || args[0] == "--version" {
		args[0] = "version"
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "winctr: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("winctr "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.format, "o", "text", "output format: text or json")
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: winctr %s [flags] %s\n\n%s\n\nFlags:\n", args[0], cmd.usage, cmd.summary)
		fs.PrintDefaults()
	}
	if helpAsked(args[1:]) {
		fs.SetOutput(stdout)
		fs.Usage()
		return 0
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if c.format != "text" && c.format != "json" {
		fmt.Fprintf(stderr, "winctr %s: -o %q: want text or json\n", args[0], c.format)
		return 2
	}
	err := cmd.run(c, fs, fs.Args())
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	fmt.Fprintf(stderr, "winctr %s: %v\n", args[0], err)
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: winctr COMMAND [flags] [args]")
	fmt.Fprintln(w, "\nA node's winctr pods, without containerd. Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].short)
	}
	fmt.Fprintln(w, "\nEvery command takes -o json and --help.")
}

// helpAsked tells whether the flags, up to the first argument, ask for
// help.
func helpAsked(args []string) bool {
	for _, a := range args {
		switch {
		case a == "--" || !strings.HasPrefix(a, "-"):
			return false
		case a == "-h" || a == "-help" || a == "--help" || a == "--h":
			return true
		}
	}
	return false
}

// json writes v as indented JSON.
func (c *cli) json(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// usageError is a wrong command line.
func usageError(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), format+"\n", args...)
	fs.Usage()
	return exitError{code: 2}
}
