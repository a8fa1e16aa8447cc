package predict_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
)

func at(minute int) time.Time { return time.Date(2014, 1, 1, 0, minute, 0, 0, time.UTC) }

// fixture returns thetas for two exercises, a components table that lacks
// one of the keys the history uses, and a shuffled history.
func fixture(t testing.TB) ([]model.ExerciseThetas, []features.Component, []features.ProblemLog) {
	r := rand.New(rand.NewPCG(1, 2))
	var thetas []model.ExerciseThetas
	for _, ex := range []string{"addition", "subtraction"} {
		th := make([]float64, features.NumFeatures)
		for i := range th {
			th[i] = r.NormFloat64()
		}
		thetas = append(thetas, model.ExerciseThetas{Version: "v1", Exercise: ex, Thetas: th, Rows: 100})
	}
	// A stored component that is not the derived one, so that the test sees
	// which was used.
	stored := features.Component{ComponentKey: features.ComponentKey{Exercise: "addition", ProblemType: "pt0", Correct: false}}
	stored.Vector = make([]float64, features.KnowledgeDim)
	stored.Vector[3] = 1
	logs := []features.ProblemLog{
		{User: "ada", TimeDone: at(1), Exercise: "addition", ProblemType: "pt0", ProblemNumber: 1, Correct: false},
		{User: "ada", TimeDone: at(2), Exercise: "addition", ProblemType: "pt0", ProblemNumber: 2, Correct: true},
		{User: "ada", TimeDone: at(3), Exercise: "subtraction", ProblemType: "pt1", ProblemNumber: 1, Correct: true}, // derived
		{User: "ada", TimeDone: at(4), Exercise: "addition", ProblemType: "pt0", ProblemNumber: 3, Correct: true},
		{User: "ada", TimeDone: at(4), Exercise: "subtraction", ProblemType: "pt1", ProblemNumber: 2, Correct: false},
	}
	shuffled := slices.Clone(logs)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	return thetas, []features.Component{stored}, shuffled
}

// handPredict replays the sorted history with features.Student and computes
// sigmoid(θ·x) with a plain loop.
func handPredict(t testing.TB, thetas []float64, comps []features.Component, history []features.ProblemLog, exercise string) float64 {
	c, err := features.NewComponents(comps)
	if err != nil {
		t.Fatal(err)
	}
	logs := slices.Clone(history)
	features.SortLogs(logs)
	s := features.NewStudent(c)
	for _, l := range logs {
		s.Apply(l)
	}
	var x [features.NumFeatures]float64
	s.Features(exercise, &x)
	var z float64
	for i := range x {
		z += thetas[i] * x[i]
	}
	return 1 / (1 + math.Exp(-z))
}

func TestPredict(t *testing.T) {
	thetas, comps, history := fixture(t)
	m, err := predict.New("v1", thetas, comps)
	if err != nil {
		t.Fatal(err)
	}
	orig := slices.Clone(history)
	for _, th := range thetas {
		got, ok := m.Predict(history, th.Exercise)
		want := handPredict(t, th.Thetas, comps, history, th.Exercise)
		if !ok || math.Abs(got-want) > 1e-14 {
			t.Errorf("Predict(%s) = %v, %v; by hand %v", th.Exercise, got, ok, want)
		}
		// The stored component, not the derived one, must have been used:
		// with the derived one the answer differs.
		derived := handPredict(t, th.Thetas, nil, history, th.Exercise)
		if math.Abs(got-derived) < 1e-9 {
			t.Errorf("Predict(%s) = %v, the same as with every component derived", th.Exercise, got)
		}
	}
	if !slices.Equal(history, orig) {
		t.Error("Predict reordered the caller's history")
	}
	// The component the table lacked was derived as training derives it.
	key := features.ComponentKey{Exercise: "subtraction", ProblemType: "pt1", Correct: true}
	if !slices.Equal(m.Components.Vector(key), features.DeriveComponent(key).Vector) {
		t.Error("a missing component was not derived with features.DeriveComponent")
	}
	// An empty history: the bias and the features of a fresh exercise.
	if got, _ := m.Predict(nil, "addition"); math.Abs(got-handPredict(t, thetas[0].Thetas, comps, nil, "addition")) > 1e-14 {
		t.Errorf("Predict(no history) = %v", got)
	}
}

func TestPredictUnknownExercise(t *testing.T) {
	thetas, comps, history := fixture(t)
	m, err := predict.New("v1", thetas, comps)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := m.Predict(history, "division"); ok || p != 0 {
		t.Errorf("Predict(unknown) = %v, %v; want 0, false", p, ok)
	}
	if p, ok := m.NewStudent().Predict("division"); ok || p != 0 {
		t.Errorf("Student.Predict(unknown) = %v, %v; want 0, false", p, ok)
	}
}

// TestStudent checks that predicting attempt after attempt gives what
// Predict gives on each prefix of the history.
func TestStudent(t *testing.T) {
	thetas, comps, history := fixture(t)
	m, err := predict.New("v1", thetas, comps)
	if err != nil {
		t.Fatal(err)
	}
	logs := slices.Clone(history)
	features.SortLogs(logs)
	s := m.NewStudent()
	for i, l := range logs {
		got, ok := s.Predict(l.Exercise)
		want, _ := m.Predict(logs[:i], l.Exercise)
		if !ok || got != want {
			t.Errorf("attempt %d: Student.Predict = %v, Predict = %v", i, got, want)
		}
		if x := s.Features(l.Exercise); len(x) != features.NumFeatures || x[0] != 1 {
			t.Errorf("attempt %d: Features = %v", i, x)
		}
		s.Apply(l)
	}
}

// TestConcurrent predicts from many goroutines, each deriving components
// the table lacks (run with -race).
func TestConcurrent(t *testing.T) {
	thetas, comps, history := fixture(t)
	m, err := predict.New("v1", thetas, comps)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := m.Predict(history, "addition")
	table := m.Components.Len()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				h := append(slices.Clone(history), features.ProblemLog{User: "ada", TimeDone: at(10 + i),
					Exercise: "ex" + strings.Repeat("x", g), ProblemType: "p", ProblemNumber: 1, Correct: i%2 == 0})
				m.Predict(h, "subtraction")
			}
			if got, _ := m.Predict(history, "addition"); got != want {
				t.Errorf("concurrent Predict = %v, want %v", got, want)
			}
		}()
	}
	wg.Wait()
	// Students derive the components the table lacks for themselves: the
	// model does not change.
	if got := m.Components.Len(); got != table {
		t.Errorf("the model's components table went from %d to %d", table, got)
	}
}

func TestNewInvalid(t *testing.T) {
	thetas, comps, _ := fixture(t)
	short := slices.Clone(thetas)
	short[1].Thetas = short[1].Thetas[:10]
	nan := slices.Clone(thetas)
	nan[0].Thetas = slices.Clone(nan[0].Thetas)
	nan[0].Thetas[5] = math.NaN()
	badComp := []features.Component{{ComponentKey: features.ComponentKey{Exercise: "a"}, Vector: []float64{1}}}
	with := func(f func(*model.ExerciseThetas)) []model.ExerciseThetas {
		th := slices.Clone(thetas)
		f(&th[0])
		return th
	}
	longNoKnowledge := with(func(t *model.ExerciseThetas) { t.NoKnowledgeThetas = make([]float64, features.NumFeatures+1) })
	nanNoKnowledge := with(func(t *model.ExerciseThetas) {
		t.NoKnowledgeThetas = make([]float64, 1+features.NumExerciseFeatures)
		t.NoKnowledgeThetas[3] = math.Inf(1)
	})
	badRate := with(func(t *model.ExerciseThetas) { t.CorrectRate = math.NaN() })
	for name, c := range map[string]struct {
		version string
		thetas  []model.ExerciseThetas
		comps   []features.Component
	}{
		"no thetas":                    {"v1", nil, comps},
		"short thetas":                 {"v1", short, comps},
		"NaN theta":                    {"v1", nan, comps},
		"duplicate":                    {"v1", append(slices.Clone(thetas), thetas[0]), comps},
		"other version":                {"v2", thetas, comps},
		"no exercise":                  {"v1", []model.ExerciseThetas{{Thetas: thetas[0].Thetas}}, comps},
		"invalid component":            {"v1", thetas, badComp},
		"too many no-knowledge thetas": {"v1", longNoKnowledge, comps},
		"infinite no-knowledge theta":  {"v1", nanNoKnowledge, comps},
		"NaN correct rate":             {"v1", badRate, comps},
	} {
		if _, err := predict.New(c.version, c.thetas, c.comps); err == nil {
			t.Errorf("%s: New succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// writeDir writes a kmtrain output directory by hand.
func writeDir(t testing.TB, dir string, thetas []model.ExerciseThetas, comps []features.Component, sum *model.Summary) {
	var b strings.Builder
	for _, th := range thetas {
		j, err := json.Marshal(th)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteString("\n\n")
	}
	if err := os.WriteFile(filepath.Join(dir, model.ThetasFile), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, model.ComponentsFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := features.WriteComponentsJSONL(f, comps); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if sum != nil {
		j, _ := json.MarshalIndent(sum, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, model.SummaryFile), j, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadDir(t *testing.T) {
	thetas, comps, history := fixture(t)
	dir := t.TempDir()
	writeDir(t, dir, thetas, comps, &model.Summary{Version: "v1", ExercisesTrained: 2})
	m, err := predict.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "v1" || len(m.Thetas) != 2 || m.Components.Len() != 1 {
		t.Fatalf("LoadDir: version %q, %d thetas, %d components", m.Version, len(m.Thetas), m.Components.Len())
	}
	for _, th := range thetas {
		if !slices.Equal(m.Thetas[th.Exercise], th.Thetas) {
			t.Errorf("thetas of %s differ after LoadDir", th.Exercise)
		}
		got, _ := m.Predict(history, th.Exercise)
		if want := handPredict(t, th.Thetas, comps, history, th.Exercise); math.Abs(got-want) > 1e-14 {
			t.Errorf("LoadDir model: Predict(%s) = %v, by hand %v", th.Exercise, got, want)
		}
	}

	// Without a summary the version comes from the thetas.
	dir2 := t.TempDir()
	writeDir(t, dir2, thetas, comps, nil)
	if m, err := predict.LoadDir(dir2); err != nil || m.Version != "v1" {
		t.Errorf("LoadDir without summary: %v, %v", m, err)
	}
}

func TestLoadDirErrors(t *testing.T) {
	thetas, comps, _ := fixture(t)
	missing := t.TempDir()
	writeDir(t, missing, thetas, comps, nil)
	os.Remove(filepath.Join(missing, model.ComponentsFile))

	badLine := t.TempDir()
	writeDir(t, badLine, thetas, comps, nil)
	os.WriteFile(filepath.Join(badLine, model.ThetasFile), []byte("{\"exercise\":\"a\",\"thetas\":[1,2]}\n{nope\n"), 0o644)

	short := t.TempDir()
	th := slices.Clone(thetas)
	th[0].Thetas = th[0].Thetas[:3]
	writeDir(t, short, th, comps, nil)

	for name, dir := range map[string]string{"no components file": missing, "malformed line": badLine, "short thetas": short, "no directory": filepath.Join(missing, "nope")} {
		if _, err := predict.LoadDir(dir); err == nil {
			t.Errorf("%s: LoadDir succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
