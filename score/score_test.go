package score_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/score"
)

func at(minute int) time.Time { return time.Date(2014, 1, 1, 0, minute, 0, 0, time.UTC) }

// newModel returns a model with random thetas for exercises.
func newModel(t testing.TB, version string, seed uint64, exercises ...string) *predict.Model {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 2))
	var thetas []model.ExerciseThetas
	for _, ex := range exercises {
		th := make([]float64, features.NumFeatures)
		for i := range th {
			th[i] = r.NormFloat64()
		}
		thetas = append(thetas, model.ExerciseThetas{Version: version, Exercise: ex, Thetas: th})
	}
	m, err := predict.New(version, thetas, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var history = []features.ProblemLog{
	{User: "ada", TimeDone: at(4), Exercise: "addition", ProblemType: "p", ProblemNumber: 3, Correct: true},
	{User: "ada", TimeDone: at(1), Exercise: "addition", ProblemType: "p", ProblemNumber: 1},
	{User: "ada", TimeDone: at(3), Exercise: "subtraction", ProblemType: "q", ProblemNumber: 1, Correct: true},
	{User: "ada", TimeDone: at(2), Exercise: "addition", ProblemType: "p", ProblemNumber: 2, Correct: true},
	{User: "ada", TimeDone: at(5), Exercise: "division", ProblemType: "r", ProblemNumber: 1},
}

// TestReplay checks that each attempt is scored, in time order, as
// predict.Model.PredictAttempt scores it from the attempts before it, by
// every model, from the given time on.
func TestReplay(t *testing.T) {
	v1 := newModel(t, "v1", 1, "addition", "subtraction")
	v2 := newModel(t, "v2", 2, "addition", "division")
	sorted := slices.Clone(history)
	features.SortLogs(sorted)
	tests := []struct {
		name   string
		models []*predict.Model
		from   time.Time
		want   int // attempts scored: the last ones of sorted
	}{
		{"one model, every attempt", []*predict.Model{v1}, time.Time{}, 5},
		{"two models", []*predict.Model{v1, v2}, time.Time{}, 5},
		{"from the third minute", []*predict.Model{v1, v2}, at(3), 3},
		{"from after the last", []*predict.Model{v1}, at(6), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []features.ProblemLog
			err := score.Replay(score.NewStudent(tt.models...), slices.Clone(history), tt.from,
				func(l features.ProblemLog, p []score.Prediction) error {
					got = append(got, l)
					before := sorted[:slices.IndexFunc(sorted, func(x features.ProblemLog) bool { return x == l })]
					for i, m := range tt.models {
						want, ok := m.PredictAttempt(before, l)
						if p[i] != (score.Prediction{P: want, OK: ok}) {
							t.Errorf("%s at %v by %s: %+v, want %v, %v", l.Exercise, l.TimeDone, m.Version, p[i], want, ok)
						}
					}
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, sorted[len(sorted)-tt.want:]) {
				t.Errorf("scored %v, want the last %d in time order", got, tt.want)
			}
		})
	}
}

func TestReplayStops(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := score.Replay(score.NewStudent(newModel(t, "v1", 1, "addition")), slices.Clone(history), time.Time{},
		func(features.ProblemLog, []score.Prediction) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Replay = %v after %d attempts, want the first error after 1", err, n)
	}
}

// A model scores a student's attempts from the attempts before each.
func Example() {
	thetas := make([]float64, features.NumFeatures)
	thetas[0], thetas[6] = -1, 2 // the bias, percent_correct
	m, _ := predict.New("v1", []model.ExerciseThetas{{Exercise: "addition", Thetas: thetas}}, nil)
	logs := []features.ProblemLog{
		{User: "ada", TimeDone: at(1), Exercise: "addition", ProblemNumber: 1, Correct: true},
		{User: "ada", TimeDone: at(2), Exercise: "addition", ProblemNumber: 2, Correct: true},
		{User: "ada", TimeDone: at(3), Exercise: "geometry", ProblemNumber: 1},
	}
	score.Replay(score.NewStudent(m), logs, time.Time{}, func(l features.ProblemLog, p []score.Prediction) error {
		if p[0].OK {
			fmt.Printf("%s #%d: P(correct) %.3f\n", l.Exercise, l.ProblemNumber, p[0].P)
		} else {
			fmt.Printf("%s #%d: no thetas\n", l.Exercise, l.ProblemNumber)
		}
		return nil
	})
	// Output:
	// addition #1: P(correct) 0.646
	// addition #2: P(correct) 0.731
	// geometry #1: no thetas
}

// TestStudentBinary checks that a student written and read back between
// attempts scores the rest as one that never was, and that read under
// another version it scores as that version replaying the whole history.
func TestStudentBinary(t *testing.T) {
	v1 := newModel(t, "v1", 1, "addition", "subtraction")
	v2 := newModel(t, "v2", 2, "addition", "division")
	sorted := slices.Clone(history)
	features.SortLogs(sorted)
	straight, straight2 := score.NewStudent(v1), score.NewStudent(v2)
	var saved []byte
	for i, l := range sorted {
		read := score.NewStudent(v1)
		if i > 0 {
			var err error
			if read, err = score.ReadStudent(saved, v1); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := read.Score(l)[0], straight.Score(l)[0]; got != want {
			t.Errorf("attempt %d: %v after a round trip, want %v", i, got, want)
		}
		if i > 0 {
			under2, err := score.ReadStudent(saved, v2)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := under2.Score(l)[0], straight2.Score(l)[0]; got != want {
				t.Errorf("attempt %d: %v read under v2, want %v", i, got, want)
			}
		}
		read.Apply(l)
		straight.Apply(l)
		straight2.Apply(l)
		var err error
		if saved, err = read.AppendBinary(saved[:0]); err != nil {
			t.Fatal(err)
		}
	}
}
