package modelops

import (
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/store"
)

func ver(id string, ll *float64, gate *model.Gate) Version {
	v := Version{VersionInfo: store.VersionInfo{ID: id}}
	v.Summary.Gate = gate
	if ll != nil {
		v.Summary.Evaluation = &evaluate.Report{Evaluation: evaluate.Evaluation{Overall: evaluate.Metrics{Attempts: 100, LogLikelihood: ll}}}
	}
	return v
}

func f(x float64) *float64 { return &x }

// unscored is v with an evaluation of no attempts, as a run whose held-out
// students had no logs records.
func unscored(v Version) Version {
	v.Summary.Evaluation.Overall.Attempts = 0
	return v
}

func TestGate(t *testing.T) {
	againstA := &model.Gate{CurrentVersion: "a", Comparison: evaluate.Comparison{Attempts: 50, New: -0.51, Current: -0.50, Delta: -0.01}}
	cur := ver("a", f(-0.50), nil)
	tests := []struct {
		name   string
		v      Version
		cur    *Version
		max    float64
		passed bool
		reason string
	}{
		{"no evaluation", ver("v", nil, nil), &cur, 0.002, false, "version v has no held-out evaluation"},
		{"no evaluation, nothing current", ver("v", nil, nil), nil, 0.002, false, "has no held-out evaluation"},
		{"nothing current", ver("v", f(-0.9), nil), nil, 0.002, true, "no version is current"},
		{"nothing current, no attempt evaluated", unscored(ver("v", f(-0.9), nil)), nil, 0.002, false, "no held-out student was evaluated"},
		{"the run's gate, against the current one", ver("v", f(-0.40), againstA), &cur, 0.002, false,
			"mean log-likelihood -0.51000 is worse than -0.50000 for a on 50 held-out attempts, as the run that trained v re-scored them by 0.01000"},
		{"the run's gate, a looser threshold", ver("v", f(-0.40), againstA), &cur, 0.02, true, "on 50 held-out attempts, as the run that trained v re-scored them"},
		{"the run's gate, against another", ver("v", f(-0.40), &model.Gate{CurrentVersion: "b"}), &cur, 0.002, true,
			"mean log-likelihood -0.40000 vs -0.50000 for a as recorded at training, each on its own held-out attempts (100 and 100; v was not re-scored against a)"},
		{"recorded, worse", ver("v", f(-0.51), nil), &cur, 0.002, false, "is worse than -0.50000 for a as recorded at training"},
		{"recorded, within", ver("v", f(-0.501), nil), &cur, 0.002, true, "as recorded at training"},
		{"current without evaluation", ver("v", f(-0.4), nil), &Version{VersionInfo: store.VersionInfo{ID: "a"}}, 0.002, false,
			"the current version a has no recorded held-out log-likelihood"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := Gate(tc.v, tc.cur, tc.max)
			if g.Passed != tc.passed || !strings.Contains(g.Reason, tc.reason) || g.MaxRegression != tc.max {
				t.Errorf("Gate = passed %t, %q (max %g); want %t, %q", g.Passed, g.Reason, g.MaxRegression, tc.passed, tc.reason)
			}
		})
	}
}
