package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/internal/dsemulator"
	"github.com/kmtrain/knowledgemodel/internal/failpoint"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/store"
	"github.com/kmtrain/knowledgemodel/transforms"
)

// asKmtrain, set to 1, makes the test binary run kmtrain's main with its
// arguments instead of the tests: the subprocess TestKilledRuns kills.
const asKmtrain = "KMTRAIN_TEST_AS_KMTRAIN"

// killPoints are the failpoints a run is killed at, in the order a run
// reaches them, and which version a reader must then see: in the output
// directory (the new one from the publish's commit point on) and as
// Datastore's current version (the new one once the promotion committed).
var killPoints = []struct {
	point          string
	newDir, newCur bool
}{
	{"read/shard", false, false},
	{"train/exercise", false, false},
	{"sink/assembled", false, false},
	{"publish/temp", false, false},
	{"publish/written", false, false},
	{"publish/committed", true, false},
	{"publish/renamed", true, false},
	{"datastore/components", true, false},
	{"store/thetas-batch", true, false},
	{"datastore/thetas", true, false},
	{"store/summary-pieces", true, false},
	{"datastore/staged", true, false},
	{"datastore/promoted", true, true},
}

// TestKilledRuns starts kmtrain as a subprocess writing an output
// directory and Datastore (the emulator), kills it with SIGKILL at each
// point of killPoints and at times spread over a run, and checks that
// readers see the previous complete model or the new complete one, never a
// mix nor a part, and that the same command run again succeeds.
func TestKilledRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs kmtrain ~35 times")
	}
	project := dsemulator.Shared(t).Use(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	input, err := filepath.Abs("../../testdata/khan2014/problemlogs.csv")
	if err != nil {
		t.Fatal(err)
	}
	k := &killer{t: t, exe: exe, input: input, project: project, namespace: "killed-runs", out: t.TempDir()}

	// A first run killed before its commit points leaves nothing.
	k.kill("v00", "publish/written", 0)
	k.check("v00", "", false, false)
	if entries, _ := os.ReadDir(k.out); slices.ContainsFunc(entries, func(e os.DirEntry) bool {
		return e.Name() == model.ThetasFile || e.Name() == model.SummaryFile
	}) {
		t.Errorf("a first run killed before its commit point left model files: %v", entries)
	}
	k.rerun("v00")

	prev := "v00"
	for i, kp := range killPoints {
		id := fmt.Sprintf("v%02d", i+1)
		k.kill(id, kp.point, 0)
		k.check(id, prev, kp.newDir, kp.newCur)
		k.rerun(id)
		prev = id
	}

	// Kills at any moment: at fractions of a whole run's duration.
	began := time.Now()
	k.rerun("vtimed")
	whole := time.Since(began)
	prev = "vtimed"
	for i, f := range []float64{0.1, 0.25, 0.4, 0.55, 0.7, 0.8, 0.9, 0.95} {
		id := fmt.Sprintf("vt%02d", i)
		if k.kill(id, "", time.Duration(f*float64(whole))) {
			k.checkEither(id, prev)
		}
		k.rerun(id)
		prev = id
	}
}

// killer runs kmtrain into one output directory and Datastore namespace.
type killer struct {
	t                              *testing.T
	exe, input, project, namespace string
	out                            string
	before                         map[string][]byte // the directory's model files before the run killed
}

// args are kmtrain's arguments for version id.
func (k *killer) args(id string) []string {
	return []string{"--input=" + k.input, "--output=" + k.out, "--version=" + id,
		"--datastore_project=" + k.project, "--datastore_namespace=" + k.namespace}
}

// start starts kmtrain for version id, armed at point (none if empty).
func (k *killer) start(ctx context.Context, id, point string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, k.exe, k.args(id)...)
	cmd.Env = append(os.Environ(), asKmtrain+"=1", failpoint.Env+"="+point)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	return cmd, &out
}

// kill runs version id until it is killed: at point, or after a delay. It
// reports whether the run was killed (one killed after a delay may finish
// first).
func (k *killer) kill(id, point string, after time.Duration) bool {
	k.t.Helper()
	k.before = modelFiles(k.t, k.out)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, out := k.start(ctx, id, point)
	if after > 0 {
		timer := time.AfterFunc(after, func() { cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			k.t.Logf("version %s: killed at %s", id, cmp.Or(point, after.String()))
			return true
		}
	}
	if ctx.Err() != nil {
		k.t.Fatalf("version %s: kmtrain still running after 2 minutes:\n%s", id, out)
	}
	if point != "" || err != nil {
		k.t.Fatalf("version %s armed at %q: kmtrain was not killed (%v):\n%s", id, point, err, out)
	}
	k.t.Logf("version %s: finished before %s", id, after)
	return false
}

// rerun runs version id to completion, and checks it is what readers see.
func (k *killer) rerun(id string) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, out := k.start(ctx, id, "")
	if err := cmd.Wait(); err != nil {
		k.t.Fatalf("version %s: the run after a kill failed (%v):\n%s", id, err, out)
	}
	if got := k.dirVersion(id, ""); got != id {
		k.t.Errorf("version %s, run again: the directory holds %q", id, got)
	}
	entries, _ := os.ReadDir(k.out)
	for _, e := range entries {
		if model.IsTempName(e.Name()) || e.Name() == model.PublishingFile {
			k.t.Errorf("version %s, run again: the directory still has %s", id, e.Name())
		}
	}
	if got := k.current(id); got != id {
		k.t.Errorf("version %s, run again: the current version is %q", id, got)
	}
}

// check checks what readers see after version id was killed: prev (empty:
// nothing) or, if newDir and newCur, id, in the directory and as the
// current version.
func (k *killer) check(id, prev string, newDir, newCur bool) {
	k.t.Helper()
	want := func(isNew bool) string {
		if isNew {
			return id
		}
		return prev
	}
	if got := k.dirVersion(id, prev); got != want(newDir) {
		k.t.Errorf("killed %s: the directory holds %q, want %q", id, orNothing(got), orNothing(want(newDir)))
	}
	if got := k.current(id); got != want(newCur) {
		k.t.Errorf("killed %s: the current version is %q, want %q", id, orNothing(got), orNothing(want(newCur)))
	}
}

// checkEither checks what readers see after version id was killed at an
// unknown moment: prev or id, whole, in both places, and id as the current
// version only if the directory, written first, holds it too.
func (k *killer) checkEither(id, prev string) {
	k.t.Helper()
	dir, cur := k.dirVersion(id, prev), k.current(id)
	if (dir != prev && dir != id) || (cur != prev && cur != id) || (cur == id && dir != id) {
		k.t.Errorf("killed %s: the directory holds %q and the current version is %q, want each %q or %q",
			id, orNothing(dir), orNothing(cur), prev, id)
	}
}

func orNothing(v string) string { return cmp.Or(v, "nothing") }

// dirVersion returns the version the output directory holds, after
// checking that it holds it whole: the files of before (the previous run's,
// byte for byte) or a model that loads, every file of version id. It is
// empty if the directory holds no model.
func (k *killer) dirVersion(id, prev string) string {
	k.t.Helper()
	now := modelFiles(k.t, k.out)
	_, pending, _ := model.ReadPublishing(osOpen, k.out)
	if !pending && prev != "" && equalFiles(now, k.before) {
		return prev
	}
	m, err := predict.LoadDir(k.out)
	if errors.Is(err, fs.ErrNotExist) && len(now) == 0 && !pending {
		return ""
	}
	if err != nil {
		k.t.Fatalf("killed %s: the directory holds no complete model: %v (files %v)", id, err, names(now))
	}
	rc, err := model.OpenFile(osOpen, k.out, model.SummaryFile)
	if err != nil {
		k.t.Fatal(err)
	}
	var sum model.Summary
	err = json.NewDecoder(rc).Decode(&sum)
	rc.Close()
	if err != nil {
		k.t.Fatal(err)
	}
	if m.Version != sum.Version || len(m.Thetas) != sum.ExercisesTrained || sum.Version != id {
		k.t.Fatalf("killed %s: the directory mixes versions: thetas of %s (%d exercises), summary of %s (%d trained)",
			id, m.Version, len(m.Thetas), sum.Version, sum.ExercisesTrained)
	}
	return sum.Version
}

// current returns Datastore's current version, after checking it is whole.
func (k *killer) current(id string) string {
	k.t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, k.project, k.namespace)
	if err != nil {
		k.t.Fatal(err)
	}
	defer st.Close()
	cur, err := st.Current(ctx)
	if errors.Is(err, store.ErrNotFound) || cur == "" {
		return ""
	}
	if err != nil {
		k.t.Fatalf("after %s: %v", id, err)
	}
	info, err := st.Version(ctx, cur)
	if err != nil {
		k.t.Fatalf("after %s: current version %s: %v", id, cur, err)
	}
	m, err := transforms.LoadModel(ctx, transforms.ModelSource{Datastore: &transforms.Datastore{Project: k.project, Namespace: k.namespace}})
	if err != nil {
		k.t.Fatalf("after %s: current version %s does not load: %v", id, cur, err)
	}
	if info.Status != store.StatusCurrent || len(m.Thetas) != info.Summary.ExercisesTrained {
		k.t.Fatalf("after %s: current version %s is %s with %d exercises' thetas, its summary says %d",
			id, cur, info.Status, len(m.Thetas), info.Summary.ExercisesTrained)
	}
	return cur
}

// modelFiles returns the model's files in dir, by name.
func modelFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range []string{model.ThetasFile, model.ComponentsFile, model.SummaryFile, transforms.ReportFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			files[name] = b
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	return files
}

func equalFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for name, content := range a {
		if !bytes.Equal(content, b[name]) {
			return false
		}
	}
	return true
}

func names(files map[string][]byte) string {
	var n []string
	for name := range files {
		n = append(n, name)
	}
	slices.Sort(n)
	return strings.Join(n, ", ")
}

func osOpen(path string) (io.ReadCloser, error) { return os.Open(path) }
