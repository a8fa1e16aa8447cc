package model

import (
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/evaluate"
)

func TestNewGate(t *testing.T) {
	better := evaluate.Comparison{Attempts: 100, New: -0.5, Current: -0.6, Delta: 0.1}
	worse := evaluate.Comparison{Attempts: 100, New: -0.7, Current: -0.6, Delta: -0.1}
	for _, tc := range []struct {
		name      string
		cmp       evaluate.Comparison
		currents  []string
		evaluated bool
		force     bool
		passed    bool
		forced    bool
		reason    string
	}{
		{"nothing current", evaluate.Comparison{}, []string{""}, true, false, true, false, "no version is current"},
		{"better", better, []string{"v1"}, true, false, true, false, "mean log-likelihood -0.50000 vs -0.60000 for v1"},
		{"worse", worse, []string{"v1"}, true, false, false, false, "worse than -0.60000 for v1"},
		{"worse, forced", worse, []string{"v1"}, true, true, false, true, "promoted anyway by --force_promote"},
		{"nothing evaluated", better, []string{"v1"}, false, false, false, false, "no held-out student was evaluated"},
		{"nothing compared", evaluate.Comparison{Skipped: 5}, []string{"v1"}, true, false, false, false, "no held-out attempt could be scored"},
		{"current changed", better, []string{"", "v1"}, true, false, false, false, "workers compared with none and v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGate(tc.cmp, tc.currents, tc.evaluated, 0.002, tc.force)
			if g.Passed != tc.passed || g.Forced != tc.forced || !strings.Contains(g.Reason, tc.reason) {
				t.Errorf("passed %v forced %v reason %q; want %v %v and %q", g.Passed, g.Forced, g.Reason, tc.passed, tc.forced, tc.reason)
			}
		})
	}
}
