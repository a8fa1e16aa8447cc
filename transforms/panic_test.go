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
