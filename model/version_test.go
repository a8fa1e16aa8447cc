package model

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
)

func component(exercise string, correct bool, v float64) features.Component {
	return features.Component{
		ComponentKey: features.ComponentKey{Exercise: exercise, ProblemType: "t", Correct: correct},
		Vector:       []float64{v},
	}
}

func TestAssemble(t *testing.T) {
	head := Summary{Version: "v1", InputCounts: InputCounts{LogsRead: 10}, RowsEmitted: 9}
	tests := []struct {
		name    string
		parts   Parts
		want    func(*testing.T, Version)
		wantErr string
	}{{
		name: "sorts thetas and skipped and counts what it holds",
		parts: Parts{
			Thetas: []ExerciseThetas{
				{Exercise: "b", Rows: 3, Converged: true},
				{Exercise: "a", Rows: 4},
			},
			Skipped: []SkippedExercise{
				{Exercise: "d", Rows: 1, Reason: SkipTooFewRows},
				{Exercise: "c", Rows: 2, Reason: SkipFitFailed + ": NaN gradient"},
			},
		},
		want: func(t *testing.T, v Version) {
			if got := []string{v.Thetas[0].Exercise, v.Thetas[1].Exercise}; !reflect.DeepEqual(got, []string{"a", "b"}) {
				t.Errorf("thetas order %v, want [a b]", got)
			}
			if got := []string{v.Summary.Skipped[0].Exercise, v.Summary.Skipped[1].Exercise}; !reflect.DeepEqual(got, []string{"c", "d"}) {
				t.Errorf("skipped order %v, want [c d]", got)
			}
			s := v.Summary
			if s.ExercisesTrained != 2 || s.ExercisesSkipped != 2 || s.RowsTrained != 7 || s.ExercisesConverged != 1 {
				t.Errorf("counts trained=%d skipped=%d rows=%d converged=%d, want 2 2 7 1",
					s.ExercisesTrained, s.ExercisesSkipped, s.RowsTrained, s.ExercisesConverged)
			}
			want := map[string]int{SkipTooFewRows: 1, SkipFitFailed: 1}
			if !reflect.DeepEqual(s.SkipReasons, want) {
				t.Errorf("skip reasons %v, want %v", s.SkipReasons, want)
			}
			if s.Version != "v1" || s.RowsEmitted != 9 {
				t.Errorf("head not kept: %+v", s)
			}
		},
	}, {
		name: "a reused component keeps its vector",
		parts: Parts{
			Thetas: []ExerciseThetas{{Exercise: "a"}},
			Reused: []features.Component{component("b", true, 1)},
			New:    []features.Component{component("b", true, 2), component("a", false, 3), component("a", true, 4)},
		},
		want: func(t *testing.T, v Version) {
			want := []features.Component{component("a", false, 3), component("a", true, 4), component("b", true, 1)}
			if !reflect.DeepEqual(v.Components, want) {
				t.Errorf("components %v, want %v", v.Components, want)
			}
			if v.Summary.ComponentsReused != 1 || v.Summary.ComponentsNew != 2 {
				t.Errorf("reused=%d new=%d, want 1 2", v.Summary.ComponentsReused, v.Summary.ComponentsNew)
			}
		},
	}, {
		name:    "no logs says what the input held",
		parts:   Parts{Thetas: []ExerciseThetas{{Exercise: "a"}}},
		wantErr: "holds no ProblemLogs",
	}, {
		name:    "no thetas is an error, not an empty model",
		parts:   Parts{Skipped: []SkippedExercise{{Exercise: "a", Reason: SkipTooFewRows}}},
		wantErr: "no exercise was trained",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := head
			if strings.Contains(tc.wantErr, "ProblemLogs") {
				h.LogsRead = 0
			}
			v, err := Assemble(h, tc.parts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Assemble error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want(t, v)
		})
	}
}

func TestAssembleDoesNotReorderItsInput(t *testing.T) {
	thetas := []ExerciseThetas{{Exercise: "b"}, {Exercise: "a"}}
	if _, err := Assemble(Summary{InputCounts: InputCounts{LogsRead: 1}}, Parts{Thetas: thetas}); err != nil {
		t.Fatal(err)
	}
	if thetas[0].Exercise != "b" {
		t.Errorf("Assemble sorted the caller's slice")
	}
}
