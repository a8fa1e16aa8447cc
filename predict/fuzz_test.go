package predict_test

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
)

// fuzzSeedModel returns the files of a small model: a Khan thetas line, an
// extended one, a component and a summary.
func fuzzSeedModel() (thetas, components, summary []byte) {
	line := func(v any) []byte { b, _ := json.Marshal(v); return append(b, '\n') }
	k := make([]float64, features.Khan2014.Dim())
	e := make([]float64, features.Extended.Dim())
	for i := range k {
		k[i] = 0.01 * float64(i%7-3)
	}
	for i := range e {
		e[i] = -0.02 * float64(i%5-2)
	}
	thetas = append(line(model.ExerciseThetas{Version: "v1", Exercise: "addition", Thetas: k}),
		line(model.ExerciseThetas{Version: "v1", Exercise: "ext", Thetas: e,
			ProblemTypeDifficulty: map[string]float64{"pt0": 0.5}, UnseenProblemTypeDifficulty: -0.1})...)
	c := features.DeriveComponent(features.ComponentKey{Exercise: "addition", ProblemType: "pt0", Correct: true})
	components = line(c)
	summary = line(model.Summary{Version: "v1", ExercisesTrained: 2, Settings: model.Settings{ComponentKey: features.KeyingProblemTypeName}})
	return thetas, components, summary
}

// FuzzLoadDir loads model directories of any three files (summary.json
// present or not): Load, which LoadDir is on local files, returns a model
// or an error, and a model it returns predicts a probability for each of
// its exercises.
func FuzzLoadDir(f *testing.F) {
	th, comps, sum := fuzzSeedModel()
	f.Add(th, comps, sum, true)
	f.Add(th, comps, []byte(nil), false)
	f.Add(th, []byte(""), []byte(`{"version":"v2","exercises_trained":2,"settings":{"component_key":"exercise,correct"}}`), true)
	f.Add([]byte(`{"exercise":"a","thetas":[1,2]}`+"\n"), comps, []byte(`{`), true)
	f.Add([]byte("\n\n"), []byte("{}\n"), []byte(`{"settings":{"component_key":"nope"}}`), true)
	f.Fuzz(func(t *testing.T, thetas, components, summary []byte, hasSummary bool) {
		files := map[string][]byte{model.ThetasFile: thetas, model.ComponentsFile: components}
		if hasSummary {
			files[model.SummaryFile] = summary
		}
		// In memory: the loader is what is fuzzed, not the disk (an exec
		// that writes files makes the engine's minimisation crawl).
		open := func(path string) (io.ReadCloser, error) {
			b, ok := files[strings.TrimPrefix(path, "model/")]
			if !ok {
				return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
			}
			return io.NopCloser(bytes.NewReader(b)), nil
		}
		m, err := predict.Load(open, "model")
		if err != nil {
			if len(err.Error()) > 2000 {
				t.Fatalf("the error is %d bytes long: %.200q", len(err.Error()), err)
			}
			return
		}
		if len(m.Thetas) == 0 {
			t.Fatal("a model without thetas")
		}
		t0 := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
		var history []features.ProblemLog
		var exercises []string
		for ex := range m.Thetas {
			exercises = append(exercises, ex)
			if len(exercises) == 4 {
				break
			}
		}
		for i, ex := range exercises {
			history = append(history,
				features.ProblemLog{User: "u", Exercise: ex, ProblemType: "pt0", TimeDone: t0.Add(time.Duration(i) * time.Minute), ProblemNumber: 1, Correct: true},
				features.ProblemLog{User: "u", Exercise: ex, ProblemType: "pt1", TimeDone: t0.Add(time.Duration(i)*time.Minute + time.Second), ProblemNumber: 2})
		}
		for _, ex := range exercises {
			p, ok := m.PredictAttempt(history, features.ProblemLog{User: "u", Exercise: ex, ProblemType: "pt0", TimeDone: t0.Add(time.Hour)})
			if !ok || math.IsNaN(p) || p < 0 || p > 1 {
				t.Fatalf("exercise %.40q: p = %v, %v", ex, p, ok)
			}
		}
		if _, ok := m.Predict(history, strings.Repeat("?", 3)+"no such exercise"); ok && m.Thetas["???no such exercise"] == nil {
			t.Fatal("a prediction for an exercise without thetas")
		}
	})
}
