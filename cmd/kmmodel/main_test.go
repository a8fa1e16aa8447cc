package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/dsemulator"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/store"
)

func TestMain(m *testing.M) { dsemulator.Main(m) }

func ptr(f float64) *float64 { return &f }

// testThetas is a version's thetas: exercises ex_0.. with bias b+i.
func testThetas(version string, b float64, exercises ...string) []model.ExerciseThetas {
	out := make([]model.ExerciseThetas, len(exercises))
	for i, e := range exercises {
		th := make([]float64, features.NumFeatures)
		th[0], th[1] = b+float64(i), -b
		out[i] = model.ExerciseThetas{Version: version, Exercise: e, Thetas: th, Rows: 100, Converged: true}
	}
	return out
}

// testSummary is a version's summary; ll 0 means no held-out evaluation.
func testSummary(version string, day int, trained int, ll, auc float64, gate *model.Gate) model.Summary {
	s := model.Summary{Version: version, Created: time.Date(2026, 11, day, 3, 0, 0, 0, time.UTC),
		Input: "khan-prod.logs.problemlogs [2026-08-01, 2026-11-01)", InputCounts: model.InputCounts{LogsRead: 60146}, StudentsKept: 951,
		ExercisesTrained: trained, ExercisesConverged: trained, Gate: gate,
		Settings: model.Settings{ProblemNumbers: "1-5", MinRows: 100, MaxRows: 200000, L2: 0.001}}
	if ll != 0 {
		s.Holdout = "10% of the students"
		s.Evaluation = &evaluate.Report{Evaluation: evaluate.Evaluation{
			Overall: evaluate.Metrics{Attempts: 1000, LogLikelihood: ptr(ll), AUC: ptr(auc)},
			Exercises: []evaluate.ExerciseMetrics{
				{Exercise: "addition", Metrics: evaluate.Metrics{Attempts: 600, LogLikelihood: ptr(ll - 0.01), AUC: ptr(auc)}},
				{Exercise: "subtraction", Metrics: evaluate.Metrics{Attempts: 400, LogLikelihood: ptr(ll + 0.01), AUC: ptr(auc)}},
			}}}
	}
	return s
}

// kmmodel runs a command line and returns its exit status and output.
func kmmodel(args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	code = run(context.Background(), args, &out, &errs)
	return code, out.String(), errs.String()
}

type step struct {
	args    []string
	code    int
	stdout  []string // each must appear, in this order
	stderr  string   // must appear; for code 1, on one line
	current string   // the current version after it, if set
}

func runSteps(t *testing.T, steps []step, st *store.Store) {
	t.Helper()
	for _, s := range steps {
		code, out, errs := kmmodel(s.args...)
		name := strings.Join(s.args, " ")
		t.Logf("$ kmmodel %s  => %d\n%s%s", name, code, out, errs) // the transcript, with -v or on a failure
		if code != s.code {
			t.Fatalf("kmmodel %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", name, code, s.code, out, errs)
		}
		rest := out
		for _, want := range s.stdout {
			i := strings.Index(rest, want)
			if i < 0 {
				t.Errorf("kmmodel %s: stdout lacks %q (in order)\n%s", name, want, out)
				break
			}
			rest = rest[i+len(want):]
		}
		if !strings.Contains(errs, s.stderr) {
			t.Errorf("kmmodel %s: stderr %q, want %q", name, errs, s.stderr)
		}
		if s.code == 1 && strings.Count(errs, "\n") != 1 {
			t.Errorf("kmmodel %s: the error is not one line:\n%s", name, errs)
		}
		if s.code == 2 && !strings.Contains(errs, "usage: kmmodel") {
			t.Errorf("kmmodel %s: exit 2 without the usage:\n%s", name, errs)
		}
		if s.current != "" {
			if cur, err := st.Current(context.Background()); err != nil || cur != s.current {
				t.Errorf("kmmodel %s: current %q (%v), want %s", name, cur, err, s.current)
			}
		}
	}
}

func TestUsage(t *testing.T) {
	runSteps(t, []step{
		{args: nil, code: 2, stderr: "kmmodel: no command\n"},
		{args: []string{"frobnicate"}, code: 2, stderr: `kmmodel: unknown command "frobnicate"`},
		{args: []string{"show"}, code: 2, stderr: "kmmodel: show: missing VERSION"},
		{args: []string{"diff", "a"}, code: 2, stderr: "kmmodel: diff: missing B"},
		{args: []string{"diff"}, code: 2, stderr: "kmmodel: diff: missing A B"},
		{args: []string{"show", "a", "b"}, code: 2, stderr: `kmmodel: show: unexpected argument "b"`},
		{args: []string{"versions", "--force"}, code: 2, stderr: "kmmodel: versions does not take --force"},
		{args: []string{"--bogus", "versions"}, code: 2, stderr: "flag provided but not defined: -bogus"},
		{args: []string{"--model=x", "--datastore_project=p", "versions"}, code: 2, stderr: "not both"},
		{args: []string{"--datastore_namespace=n", "versions"}, code: 2, stderr: "--datastore_namespace needs --datastore_project"},
		{args: []string{"promote", "v1"}, code: 2, stderr: "promote needs --datastore_project: an output directory has no status"},
		{args: []string{"rollback"}, code: 2, stderr: "rollback needs --datastore_project"},
		{args: []string{"--datastore_project=p", "reject", "v1"}, code: 2, stderr: "reject: missing --why"},
		{args: []string{"-h"}, code: 0, stdout: []string{"usage: kmmodel", "promote VERSION", "-max_regression"}},
	}, nil)
}

func TestDatastore(t *testing.T) {
	project := dsemulator.Shared(t).Use(t)
	t.Setenv("USER", "alice")
	ctx := context.Background()
	st, err := store.Open(ctx, project, "km")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(sum model.Summary, thetas []model.ExerciseThetas) {
		t.Helper()
		if err := st.PutThetas(ctx, sum.Version, thetas); err != nil {
			t.Fatal(err)
		}
		if err := st.PutVersion(ctx, sum, store.StatusStaged); err != nil {
			t.Fatal(err)
		}
	}
	// v1 is current; v2 was gated against it and passed (its run had
	// --promote and lost a race, say); v3 was staged without a gate and is
	// worse by the recorded evaluations; v4 has no evaluation.
	put(testSummary("v1", 1, 2, -0.60, 0.70, nil), testThetas("v1", 0, "addition", "subtraction"))
	if _, err := st.Promote(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	g2 := &model.Gate{CurrentVersion: "v1", Comparison: evaluate.Comparison{Attempts: 900, New: -0.55, Current: -0.58, Delta: 0.03},
		MaxRegression: 0.002, Passed: true, Reason: "better"}
	put(testSummary("v2", 2, 3, -0.55, 0.74, g2), testThetas("v2", 0.5, "addition", "subtraction", "division"))
	put(testSummary("v3", 3, 2, -0.70, 0.65, nil), testThetas("v3", 1, "addition", "subtraction"))
	put(testSummary("v4", 4, 1, 0, 0, nil), testThetas("v4", 1, "addition"))

	ds := []string{"--datastore_project=" + project, "--datastore_namespace=km"}
	with := func(args ...string) []string { return append(append([]string{}, ds...), args...) }
	runSteps(t, []step{
		{args: with("versions"), stdout: []string{"VERSION", "STATUS", "CREATED", "INPUT", "HELD-OUT LL", "AUC",
			"v4", "staged", "2026-11-04 03:00:00Z", "khan-prod.logs.problemlogs [2026-08-0...", "-", "-",
			"v3", "staged", "-0.70000", "0.6500", "v2", "staged", "-0.55000", "0.7400", "v1", "current", "-0.60000", "0.7000"}},
		{args: with("show", "v2"), stdout: []string{"version", "v2", "status", "staged", "input", "khan-prod.logs.problemlogs",
			"exercises", "3 trained (3 converged)", "evaluation", "1000 attempts", "log-likelihood -0.55000, AUC 0.7400",
			"gate", "passed against v1: better", "history", "new -> staged"}},
		{args: with("show", "v1"), stdout: []string{"status", "current since", "replacing none"}},
		{args: with("diff", "v1", "v2"), stdout: []string{"A v1 (current)", "B v2 (staged)",
			"exercises", "2", "3", "+1", "held-out log-likelihood", "-0.60000", "-0.55000", "+0.05000",
			"own held-out attempts",
			"EXERCISE", "THETAS L2", "addition", "0.7071", "0.5000", "-0.61000", "-0.56000", "+0.05000",
			"subtraction", "0.7071", "0.5000", "-0.59000", "-0.54000", "+0.05000",
			"only in A (0): -", "only in B (1): division"}},
		{args: with("promote", "v3"), code: 1, stderr: "kmmodel: version v3 fails the gate: mean log-likelihood -0.70000 is worse than -0.60000 for v1 as recorded at training, each on its own held-out attempts (1000 and 1000; v3 was not re-scored against v1)",
			current: "v1"},
		{args: with("promote", "v4"), code: 1, stderr: "version v4 has no held-out evaluation", current: "v1"},
		{args: with("promote", "v3", "--max_regression=NaN"), code: 1, stderr: "kmmodel: max_regression NaN must be a finite number", current: "v1"},
		{args: with("promote", "v3", "--max_regression=0.2"), code: 0, stdout: []string{"version v3 is current, replacing v1"}, current: "v3"},
		{args: with("rollback"), stdout: []string{"rolled back from v3: version v1 is current"}, current: "v1"},
		{args: with("promote", "v2", "--why", "weekly"), stdout: []string{"version v2 is current, replacing v1: kmmodel gate passed: mean log-likelihood -0.55000 vs -0.58000 for v1 on 900 held-out attempts, as the run that trained v2 re-scored them", "; weekly"},
			current: "v2"},
		{args: with("promote", "v2"), stdout: []string{"version v2 is already current"}, current: "v2"},
		{args: with("reject", "v2", "--why", "x"), code: 1, stderr: "is current", current: "v2"},
		{args: with("rollback", "--why=AUC fell on geometry"), stdout: []string{"rolled back from v2: version v1 is current"}, current: "v1"},
		{args: with("reject", "v2", "--why", "AUC fell on geometry"), stdout: []string{"version v2 is rejected: AUC fell on geometry"}},
		{args: with("promote", "v2"), code: 1, stderr: "version v2 is rejected (AUC fell on geometry): --force promotes it anyway", current: "v1"},
		{args: with("rollback"), code: 1, stderr: "kmmodel: rolling back from v1 to v2: version v2: knowledge model version is rejected (AUC fell on geometry)", current: "v1"},
		{args: with("promote", "v4", "--force", "--why", "incident 42"), stdout: []string{"version v4 is current, replacing v1: --force: not gated; incident 42"}, current: "v4"},
		{args: with("show", "v2"), stdout: []string{"status", "rejected", "AUC fell on geometry",
			"history",
			"new -> staged", "kmmodel.test (alice)", "written",
			"staged -> current", "kmmodel (alice)", "replaces v1; kmmodel gate passed",
			"current -> staged", "replaced by v1",
			"staged -> rejected", "AUC fell on geometry"}},
		{args: with("show", "v1"), stdout: []string{"staged -> current", "replaces v3; rollback from v3",
			"current -> staged", "replaced by v2", "staged -> current", "replaces v2; rollback from v2; AUC fell on geometry",
			"current -> staged", "replaced by v4"}},
		{args: with("show", "nope"), code: 1, stderr: "no such knowledge model version"},
		{args: with("diff", "v1", "nope"), code: 1, stderr: "no such knowledge model version"},
	}, st)

	// versions lines up its columns.
	_, out, _ := kmmodel(with("versions")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	col := strings.Index(lines[0], "CREATED")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "2026-11-0") {
			t.Errorf("versions: columns not aligned:\n%s", out)
		}
	}
}

// writeModelDir writes a kmtrain output directory.
func writeModelDir(t *testing.T, dir string, sum model.Summary, thetas []model.ExerciseThetas) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, th := range thetas {
		enc.Encode(th)
	}
	b, _ := json.MarshalIndent(sum, "", "  ")
	for name, content := range map[string][]byte{model.ThetasFile: buf.Bytes(), model.SummaryFile: b, model.ComponentsFile: nil} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDirectories(t *testing.T) {
	root := t.TempDir()
	a, b, mixed := filepath.Join(root, "weekly-a"), filepath.Join(root, "weekly-b"), filepath.Join(root, "mixed")
	writeModelDir(t, a, testSummary("va", 1, 2, -0.60, 0.70, nil), testThetas("va", 0, "addition", "subtraction"))
	writeModelDir(t, b, testSummary("vb", 2, 2, -0.58, 0.71, nil), testThetas("vb", 0.25, "addition", "multiplication"))
	writeModelDir(t, mixed, testSummary("vm", 3, 1, 0, 0, nil), testThetas("other", 0, "addition"))
	os.Mkdir(filepath.Join(root, "not-a-model"), 0o755)

	runSteps(t, []step{
		{args: []string{"--model", root, "versions"}, stdout: []string{"VERSION", "STATUS", "DIRECTORY",
			"vm", "-", mixed, "vb", "-", "-0.58000", "0.7100", b, "va", "-", "-0.60000", "0.7000", a}},
		{args: []string{"--model", a, "versions"}, stdout: []string{"va", a}},
		{args: []string{"--model", root, "show", "weekly-a"}, stdout: []string{"version", "va", "directory", a, "neither gates nor promotes",
			"evaluation", "1000 attempts", "gate", "none recorded"}},
		{args: []string{"--model", root, "show", "vb"}, stdout: []string{"version", "vb", "directory", b}},
		{args: []string{"show", b}, stdout: []string{"version", "vb"}},
		{args: []string{"--model", root, "diff", "va", "vb"}, stdout: []string{"A va (" + a + ")", "B vb (" + b + ")",
			"held-out log-likelihood", "-0.60000", "-0.58000", "+0.02000",
			"addition", "0.3536", "0.2500", "-0.61000", "-0.59000", "+0.02000",
			"only in A (1): subtraction", "only in B (1): multiplication"}},
		{args: []string{"diff", a, b}, stdout: []string{"A va", "B vb", "only in B (1): multiplication"}},
		{args: []string{"--model", root, "diff", "va", "mixed"}, code: 1, stderr: "thetas.jsonl holds version other but summary.json version vm (two runs wrote the directory at once?)"},
		{args: []string{"--model", root, "show", "nope"}, code: 1, stderr: "no directory nope holding a model"},
		{args: []string{"--model", root, "promote", "va"}, code: 2, stderr: "promote needs --datastore_project"},
		{args: []string{"--model", filepath.Join(root, "absent"), "versions"}, code: 1, stderr: "no such file or directory"},
	}, nil)
}
