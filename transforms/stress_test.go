package transforms

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/train"
	"github.com/kmtrain/knowledgemodel/trainer"
)

// stressLogs returns n students' logs, each with a few attempts at one of
// two exercises.
func stressLogs(n, seed int) [][]features.ProblemLog {
	t0 := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	var students [][]features.ProblemLog
	for i := range n {
		user := fmt.Sprintf("u%d-%d", seed, i)
		var logs []features.ProblemLog
		for k := range 1 + (seed+i)%3 {
			logs = append(logs, features.ProblemLog{User: user, TimeDone: t0.Add(time.Duration(k) * time.Minute),
				Exercise: fmt.Sprintf("ex%d", i%2), ProblemType: "pt", ProblemNumber: k + 1, Correct: (i+k)%2 == 0})
		}
		students = append(students, logs)
	}
	return students
}

// TestReplayBundleStress runs the replay DoFn over thousands of bundles of
// 0 to 3 students each, with several workers, the way a runner with small
// bundles (Dataflow) calls it. A worker that read the DoFn's channel after
// the bundle had ended hung FinishBundle forever.
func TestReplayBundleStress(t *testing.T) {
	ctx := context.Background()
	fn := &replayFn{Window: features.DefaultWindow, Workers: 4, FlushRows: 2}
	if err := fn.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	var rows, comps, stats int
	emitRows := func(string, trainer.RowBatch) { rows++ }
	emitComponent := func(features.Component) { comps++ }
	emitStats := func(Stats) { stats++ }
	emitExport := func(string, string) {}
	emitHeldOut := func(string, LogBatch) {}
	bundles := 3000
	if testing.Short() {
		bundles = 300
	}
	testutil.WithDeadline(t, time.Minute, fmt.Sprintf("%d replay bundles", bundles), func() {
		for b := range bundles {
			if err := fn.StartBundle(ctx, emitRows, emitComponent, emitStats, emitExport, emitHeldOut); err != nil {
				t.Error(err)
				return
			}
			for _, logs := range stressLogs(b%4, b) {
				if err := fn.ProcessElement(ctx, StudentGroup(logs[0].User), testutil.Iter(LogBatch{Logs: logs}),
					emitRows, emitComponent, emitStats, emitExport, emitHeldOut); err != nil {
					t.Error(err)
					return
				}
			}
			if err := fn.FinishBundle(ctx, emitRows, emitComponent, emitStats, emitExport, emitHeldOut); err != nil {
				t.Error(err)
				return
			}
		}
	})
	if rows == 0 || comps == 0 || stats == 0 {
		t.Errorf("%d bundles emitted %d row batches, %d components, %d stats; want some of each", bundles, rows, comps, stats)
	}
}

// TestTrainBundleStress runs the training DoFn over thousands of bundles of
// 0 to 3 exercises each, some of which fail, and checks that every bundle
// ends, a failed one without waiting for its fitters, and that no fitter
// is left behind.
func TestTrainBundleStress(t *testing.T) {
	ctx := context.Background()
	goroutines := runtime.NumGoroutine()
	fn := &trainFn{Options: TrainOptions{Options: trainer.Options{Version: "v", MinRows: 1, Penalty: train.Penalty{L2: 1e-3}}}, Parallel: 3}
	if err := fn.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	var trained, skipped, failed int
	emit := func(model.ExerciseThetas) { trained++ }
	emitSkip := func(model.SkippedExercise) { skipped++ }
	rowsOf := func(ex string, n int) []trainer.RowBatch {
		b := trainer.RowBatch{}
		for i := range n {
			b.Add(&features.Row{User: fmt.Sprintf("u%d", i), Exercise: ex, ProblemType: "pt", ProblemNumber: 1, Correct: i%2 == 0})
		}
		return []trainer.RowBatch{b}
	}
	bad := rowsOf("bad", 2)
	bad[0].History[1] = ^uint32(0) // not an ExerciseState: the bundle fails
	bundles := 2000
	if testing.Short() {
		bundles = 200
	}
	testutil.WithDeadline(t, time.Minute, fmt.Sprintf("%d training bundles", bundles), func() {
		for b := range bundles {
			if err := fn.StartBundle(ctx, emit, emitSkip); err != nil {
				t.Error(err)
				return
			}
			var err error
			for e := range b % 4 {
				in := rowsOf(fmt.Sprintf("ex%d", e), e) // ex0 has no rows: skipped
				if b%7 == 3 && e == 2 {
					in = bad
				}
				if err = fn.ProcessElement(ctx, fmt.Sprintf("ex%d", e), testutil.Iter(in...), emit, emitSkip); err != nil {
					break
				}
			}
			if err == nil {
				err = fn.FinishBundle(ctx, emit, emitSkip)
			}
			if err != nil {
				failed++
			}
		}
	})
	if trained == 0 || skipped == 0 {
		t.Errorf("%d bundles: %d trained, %d skipped, %d failed; want some trained and skipped", bundles, trained, skipped, failed)
	}
	noneLeft(t, goroutines) // fitters of every bundle, failed ones too, end
	if failed == 0 {
		t.Error("no bundle failed; want some to")
	}
}

// Beam's emitters panic with the error of a step downstream that failed;
// the runner recovers it and fails the bundle (exec.callNoPanic).
var errDownstream = errors.New("a step downstream failed")

func callNoPanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// noneLeft fails t unless the goroutines are back to before (and a couple
// the runtime may start) within 30 seconds.
func noneLeft(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Errorf("%d goroutines left after the bundles, %d before:\n%s", n, before, testutil.Goroutines())
	}
}

// TestTrainEmitterPanics: a bundle that fails by its emitter's panic
// leaves no fitter behind.
func TestTrainEmitterPanics(t *testing.T) {
	ctx := context.Background()
	before := runtime.NumGoroutine()
	fn := &trainFn{Options: TrainOptions{Options: trainer.Options{Version: "v", MinRows: 1, Penalty: train.Penalty{L2: 1e-3}}}, Parallel: 3}
	if err := fn.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	emit := func(model.ExerciseThetas) { panic(errDownstream) }
	emitSkip := func(model.SkippedExercise) { panic(errDownstream) }
	if err := fn.StartBundle(ctx, emit, emitSkip); err != nil {
		t.Fatal(err)
	}
	err := callNoPanic(func() error {
		for e := range 8 {
			b := trainer.RowBatch{}
			for i := range 4 {
				b.Add(&features.Row{User: fmt.Sprintf("u%d", i), Exercise: fmt.Sprint("ex", e), ProblemType: "pt", ProblemNumber: 1, Correct: i%2 == 0})
			}
			if err := fn.ProcessElement(ctx, fmt.Sprint("ex", e), testutil.Iter(b), emit, emitSkip); err != nil {
				return err
			}
		}
		return fn.FinishBundle(ctx, emit, emitSkip)
	})
	if err == nil {
		t.Fatal("the bundle did not fail")
	}
	noneLeft(t, before)
}

// TestReplayEmitterPanics: the same for the replay's workers.
func TestReplayEmitterPanics(t *testing.T) {
	ctx := context.Background()
	before := runtime.NumGoroutine()
	fn := &replayFn{Window: features.DefaultWindow, Workers: 4, FlushRows: 1}
	if err := fn.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	emitRows := func(string, trainer.RowBatch) { panic(errDownstream) }
	emitComponent := func(features.Component) {}
	emitStats := func(Stats) {}
	emitExport := func(string, string) {}
	emitHeldOut := func(string, LogBatch) {}
	if err := fn.StartBundle(ctx, emitRows, emitComponent, emitStats, emitExport, emitHeldOut); err != nil {
		t.Fatal(err)
	}
	err := callNoPanic(func() error {
		for _, logs := range stressLogs(200, 1) { // enough that a flush comes before FinishBundle
			if err := fn.ProcessElement(ctx, StudentGroup(logs[0].User), testutil.Iter(LogBatch{Logs: logs}),
				emitRows, emitComponent, emitStats, emitExport, emitHeldOut); err != nil {
				return err
			}
		}
		return fn.FinishBundle(ctx, emitRows, emitComponent, emitStats, emitExport, emitHeldOut)
	})
	if err == nil {
		t.Fatal("the bundle did not fail")
	}
	noneLeft(t, before)
}
