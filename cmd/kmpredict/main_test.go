package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/dsemulator"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/store"
)

func TestMain(m *testing.M) { dsemulator.Main(m) }

// testThetas is a one-exercise model with only a bias, -1, so that every
// student's P(correct) on it is sigmoid(-1).
func testThetas(version string) []model.ExerciseThetas {
	th := make([]float64, features.NumFeatures)
	th[0] = -1
	return []model.ExerciseThetas{{Version: version, Exercise: "addition", Thetas: th, Rows: 10, Converged: true}}
}

const historyCSV = `user,time_done,exercise,problem_type,problem_number,correct
amy,2014-01-01T10:00:00Z,addition,pt1,1,true
amy,2014-01-01T10:01:00Z,addition,pt1,2,false
bob,2014-01-01T10:00:00Z,subtraction,pt1,1,true
bob,not a time,subtraction,pt1,2,true
`

func writeHistory(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "history.csv")
	if err := os.WriteFile(path, []byte(historyCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPredictFromDirectory(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, th := range testThetas("v1") {
		enc.Encode(th)
	}
	os.WriteFile(filepath.Join(dir, model.ThetasFile), buf.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, model.ComponentsFile), nil, 0o644)

	testutil.SetFlags(t, map[string]string{"model": dir, "history": writeHistory(t), "exercise": "addition"})
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	check(t, out.String())

	// Names are trimmed, in the output too; an empty one is no exercise.
	testutil.SetFlags(t, map[string]string{"exercise": " addition , "})
	out.Reset()
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	check(t, out.String())
	testutil.SetFlags(t, map[string]string{"exercise": " , "})
	if err := run(context.Background(), io.Discard); err == nil || !strings.Contains(err.Error(), "names no exercise") {
		t.Errorf("--exercise=' , ': %v, want an error", err)
	}

	// Without --exercise: the exercises each student attempted.
	testutil.SetFlags(t, map[string]string{"exercise": ""})
	out.Reset()
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "bob,subtraction,\n") {
		t.Errorf("output %q: want bob,subtraction with no p", out.String())
	}
}

func TestPredictFromDatastore(t *testing.T) {
	project := dsemulator.Shared(t).Use(t)
	ctx := context.Background()
	st, err := store.Open(ctx, project, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	th := testThetas("v1")
	if err := st.PutThetas(ctx, "v1", th); err != nil {
		t.Fatal(err)
	}
	if err := st.PutVersion(ctx, model.Summary{Version: "v1", ExercisesTrained: len(th)}, store.StatusStaged); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Promote(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	testutil.SetFlags(t, map[string]string{"datastore_project": project, "history": writeHistory(t), "exercise": "addition"})
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	check(t, out.String())
}

func check(t *testing.T, got string) {
	t.Helper()
	// P is printed with 10 significant digits.
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 3 || lines[0] != "user,exercise,p" || !strings.HasPrefix(lines[1], "amy,addition,0.268941421") ||
		!strings.HasPrefix(lines[2], "bob,addition,0.268941421") {
		t.Errorf("output:\n%s\nwant amy and bob on addition with p = sigmoid(-1) = 0.2689414214", got)
	}
}

// TestPredictExtended predicts with a model of the extended feature set:
// the problem type's difficulty comes from --problem_type, and one training
// did not see gets the exercise's.
func TestPredictExtended(t *testing.T) {
	dir := t.TempDir()
	th := make([]float64, features.Extended.Dim())
	th[1+features.NumExerciseFeatures] = 1 // the difficulty's theta
	b, _ := json.Marshal(model.ExerciseThetas{Version: "v1", Exercise: "addition", Thetas: th, Rows: 10, Converged: true,
		ProblemTypeDifficulty: map[string]float64{"pt1": 2}, UnseenProblemTypeDifficulty: -1})
	os.WriteFile(filepath.Join(dir, model.ThetasFile), append(b, '\n'), 0o644)
	os.WriteFile(filepath.Join(dir, model.ComponentsFile), nil, 0o644)
	for _, tc := range []struct{ problemType, p string }{
		{"pt1", "0.880797078"}, // sigmoid(2)
		{"", "0.268941421"},    // sigmoid(-1)
		{"pt9", "0.268941421"},
	} {
		testutil.SetFlags(t, map[string]string{"model": dir, "history": writeHistory(t), "exercise": "addition",
			"problem_type": tc.problemType, "at": "2014-01-01T11:00:00Z"})
		var out bytes.Buffer
		if err := run(context.Background(), &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "amy,addition,"+tc.p) {
			t.Errorf("--problem_type=%q: output %q, want p %s for amy", tc.problemType, out.String(), tc.p)
		}
	}
	testutil.SetFlags(t, map[string]string{"at": "yesterday"})
	if err := run(context.Background(), io.Discard); err == nil || !strings.Contains(err.Error(), "--at") {
		t.Errorf("--at=yesterday: %v", err)
	}
	testutil.SetFlags(t, map[string]string{"at": "", "problem_type": ""})
}

// TestRank ranks every exercise with thetas, the one never attempted too.
func TestRank(t *testing.T) {
	dir := t.TempDir()
	th := testThetas("v1")
	easy := make([]float64, features.NumFeatures)
	easy[0] = 2
	th = append(th, model.ExerciseThetas{Version: "v1", Exercise: "counting", Thetas: easy, Rows: 10, Converged: true})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range th {
		enc.Encode(e)
	}
	os.WriteFile(filepath.Join(dir, model.ThetasFile), buf.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, model.ComponentsFile), nil, 0o644)

	testutil.SetFlags(t, map[string]string{"model": dir, "history": writeHistory(t), "rank": "true"})
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	want := `user,rank,exercise,p,attempts
amy,1,counting,0.880797078,0
amy,2,addition,0.2689414214,2
bob,1,counting,0.880797078,0
bob,2,addition,0.2689414214,0
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}

	testutil.SetFlags(t, map[string]string{"model": dir, "history": writeHistory(t), "rank": "true", "exercise": "addition"})
	if err := run(context.Background(), io.Discard); err == nil || !strings.Contains(err.Error(), "--rank") {
		t.Errorf("--rank with --exercise: %v, want an error", err)
	}
}
