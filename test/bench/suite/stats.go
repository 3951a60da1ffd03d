//go:build linux

package main

import (
	"sort"
	"time"
)

// Figure is one line of the table: a median over repeated runs and, where
// the figure has one, the baseline measured in the same invocation,
// interleaved with it, and their ratio.
type Figure struct {
	Name     string  `json:"name"`
	Unit     string  `json:"unit"`
	Value    float64 `json:"value"`
	Baseline string  `json:"baseline,omitempty"`
	BaseVal  float64 `json:"baseline_value,omitempty"`
	Ratio    float64 `json:"ratio,omitempty"`
	// Target is the goal for the ratio or the value, for the
	// reader; nothing here passes or fails on it.
	Target      string    `json:"target,omitempty"`
	Samples     []float64 `json:"samples"`
	BaseSamples []float64 `json:"baseline_samples,omitempty"`
}

// paired makes a figure from interleaved samples of a measurement and its
// baseline; the ratio is of their medians.
func paired(name, unit string, a []float64, baseline string, b []float64, target string) Figure {
	f := Figure{Name: name, Unit: unit, Value: median(a), Baseline: baseline, BaseVal: median(b),
		Target: target, Samples: a, BaseSamples: b}
	if f.BaseVal > 0 {
		f.Ratio = f.Value / f.BaseVal
	}
	return f
}

// single makes a figure without a baseline.
func single(name, unit string, a []float64, target string) Figure {
	return Figure{Name: name, Unit: unit, Value: median(a), Target: target, Samples: a}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
