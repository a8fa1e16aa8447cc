package model

import (
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/evaluate"
)

func TestNewGate(t *testing.T) {
	better := evaluate.Comparison{Attempts: 100, New: -0.5, Current: -0.6, Delta: 0.1}
	worse := evaluate.Comparison{Attempts: 100, New: -0.7, Current: -0.6, Delta: -0.1}
	ll := func(v float64) *float64 { return &v }
	beatsBaseline := NewBaselineCheck(evaluate.Metrics{Attempts: 100, LogLikelihood: ll(-0.5)}, evaluate.Metrics{Attempts: 100, LogLikelihood: ll(-0.501)})
	losesToBaseline := NewBaselineCheck(evaluate.Metrics{Attempts: 100, LogLikelihood: ll(-0.55)}, evaluate.Metrics{Attempts: 100, LogLikelihood: ll(-0.5)})
	if NewBaselineCheck(evaluate.Metrics{Attempts: 100, LogLikelihood: ll(-0.5)}, evaluate.Metrics{Attempts: 90, LogLikelihood: ll(-0.5)}) != nil {
		t.Error("NewBaselineCheck compared metrics of different attempts")
	}
	for _, tc := range []struct {
		name      string
		cmp       evaluate.Comparison
		currents  []string
		baseline  *BaselineCheck
		evaluated bool
		force     bool
		passed    bool
		forced    bool
		reason    string
	}{
		{"nothing current", evaluate.Comparison{}, []string{""}, nil, true, false, true, false, "no version is current"},
		{"better", better, []string{"v1"}, nil, true, false, true, false, "mean log-likelihood -0.50000 vs -0.60000 for v1"},
		{"worse", worse, []string{"v1"}, nil, true, false, false, false, "worse than -0.60000 for v1"},
		{"worse, forced", worse, []string{"v1"}, nil, true, true, false, true, "promoted anyway by --force_promote"},
		{"nothing evaluated", better, []string{"v1"}, nil, false, false, false, false, "no held-out student was evaluated"},
		{"nothing compared", evaluate.Comparison{Skipped: 5}, []string{"v1"}, nil, true, false, false, false, "no held-out attempt could be scored"},
		{"nothing current, loses to its baseline", evaluate.Comparison{}, []string{""}, losesToBaseline, true, false, false, false,
			"worse than its own 6-feature model's -0.50000 on the same 100 held-out attempts"},
		{"better, loses to its baseline", better, []string{"v1"}, losesToBaseline, true, false, false, false, "its own 6-feature model"},
		{"loses to its baseline, forced", better, []string{"v1"}, losesToBaseline, true, true, false, true, "promoted anyway"},
		{"worse, and loses to its baseline", worse, []string{"v1"}, losesToBaseline, true, false, false, false, "for v1 on 100 held-out attempts by 0.10000, more than the 0.002 allowed; and mean"},
		{"better, beats its baseline", better, []string{"v1"}, beatsBaseline, true, false, true, false, "-0.50000 vs -0.50100 for its own 6-feature model"},
		{"current changed", better, []string{"", "v1"}, nil, true, false, false, false, "workers compared with none and v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGate(tc.cmp, tc.currents, tc.evaluated, tc.baseline, 0.002, tc.force)
			if g.Passed != tc.passed || g.Forced != tc.forced || !strings.Contains(g.Reason, tc.reason) {
				t.Errorf("passed %v forced %v reason %q; want %v %v and %q", g.Passed, g.Forced, g.Reason, tc.passed, tc.forced, tc.reason)
			}
		})
	}
}
