package transforms

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/typex"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/wire"
	"github.com/kmtrain/knowledgemodel/live"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/trainer"
)

func init() {
	// The batches that carry the data, the components and the evaluation
	// partials get compact binary coders; the small records (shards,
	// streams, thetas, skipped exercises, stats) Beam's schema coders.
	beam.RegisterCoder(reflect.TypeOf(LogBatch{}), func(b LogBatch) []byte { return encodeLogBatch(b) }, decodeLogBatch)
	beam.RegisterCoder(reflect.TypeOf(trainer.RowBatch{}), encodeRowBatch, decodeRowBatch)
	beam.RegisterCoder(reflect.TypeOf(EvalPartial{}), encodeEvalPartial, decodeEvalPartial)
	beam.RegisterCoder(reflect.TypeOf(features.Component{}), func(c features.Component) []byte { return encodeComponent(c) }, decodeComponent)
	beam.RegisterCoder(reflect.TypeOf(live.Attempts{}), func(as live.Attempts) []byte { return as.AppendBinary(nil) }, live.ReadAttempts)
	for _, t := range []any{FileShard{}, BigQueryStream{}, model.ExerciseThetas{}, model.SkippedExercise{}, Stats{},
		Message{}, DeadLetter{}, LiveScore{}, LiveWindow{}} {
		beam.RegisterType(reflect.TypeOf(t))
	}

	register.DoFn4x1[context.Context, []byte, func(FileShard), func(Stats), error](&matchShardsFn{})
	register.DoFn4x1[context.Context, FileShard, func(string, LogBatch), func(Stats), error](&readShardFn{})
	register.DoFn8x1[context.Context, string, func(*LogBatch) bool,
		func(string, trainer.RowBatch), func(features.Component), func(Stats), func(string, string), func(string, LogBatch), error](&replayFn{})
	register.DoFn5x1[context.Context, string, func(*trainer.RowBatch) bool,
		func(model.ExerciseThetas), func(model.SkippedExercise), error](&trainFn{})
	register.DoFn5x1[context.Context, []byte, func(BigQueryStream), func(string, LogBatch), func(Stats), error](&planBigQueryFn{})
	register.DoFn4x1[context.Context, BigQueryStream, func(string, LogBatch), func(Stats), error](&readBigQueryStreamFn{})
	register.DoFn3x1[context.Context, []byte, func(features.Component), error](&readComponentsFn{})
	register.DoFn9x1[context.Context, []byte, func(*model.ExerciseThetas) bool, func(*model.SkippedExercise) bool,
		func(*features.Component) bool, func(*features.Component) bool, func(*Stats) bool, func(*EvalPartial) bool,
		func(*Stats) bool, error](&writeModelFn{})
	register.DoFn4x1[context.Context, []byte, func(*string, *string) bool, func(*Stats) bool, error](&writeRowsFn{})

	register.DoFn8x1[context.Context, string, LogBatch, func(*model.ExerciseThetas) bool, func(*features.Component) bool,
		func(string, EvalPartial), func(string, string), func(Stats), error](&scoreStudentsFn{})
	register.DoFn4x0[context.Context, Message, func(beam.EventTime, string, live.Attempts), func(DeadLetter)](&parseMessageFn{})
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, live.Attempts,
		func(beam.EventTime, string, LiveScore), error](&scoreLiveFn{})
	register.DoFn5x0[typex.PaneInfo, typex.Window, string, EvalPartial, func(LiveWindow)](&windowRowsFn{})
	register.DoFn4x1[beam.EventTime, string, LiveScore, func(beam.EventTime, string, EvalPartial), error](&preCombineFn{})
	register.Emitter3[beam.EventTime, string, EvalPartial]()
	register.Function3x0(attemptsOf)
	register.Function3x0(historyOf)
	register.DoFn4x1[context.Context, state.Provider, int, LiveWindow, error](&writeLiveFn{})
	register.DoFn1x1[DeadLetter, error](&writeDeadFn{})
	register.DoFn2x0[string, LiveScore](&writePredictionsFn{})
	register.Emitter3[beam.EventTime, string, live.Attempts]()
	register.Emitter3[beam.EventTime, string, LiveScore]()
	register.Emitter1[DeadLetter]()
	register.Emitter1[LiveWindow]()
	register.Function3x1(splitStudents)
	register.Combiner1[EvalPartial](&mergeEvalFn{})
	register.Emitter2[string, EvalPartial]()
	register.Iter1[EvalPartial]()
	register.Function2x1(mergeStats)
	register.Emitter1[FileShard]()
	register.Emitter1[BigQueryStream]()
	register.Emitter1[Stats]()
	register.Emitter1[features.Component]()
	register.Emitter1[model.ExerciseThetas]()
	register.Emitter1[model.SkippedExercise]()
	register.Emitter2[string, LogBatch]()
	register.Emitter2[string, trainer.RowBatch]()
	register.Emitter2[string, string]()
	register.Iter1[LogBatch]()
	register.Iter1[trainer.RowBatch]()
	register.Iter1[features.Component]()
	register.Iter1[model.ExerciseThetas]()
	register.Iter1[model.SkippedExercise]()
	register.Iter1[Stats]()
	register.Iter2[string, string]()
}

// The coders are named functions, one per type: Beam finds a coder's
// functions by symbol name on the workers.

func encodeRowBatch(b trainer.RowBatch) []byte {
	out, _ := b.AppendBinary(nil)
	return out
}

func decodeRowBatch(data []byte) (trainer.RowBatch, error) {
	var b trainer.RowBatch
	err := b.UnmarshalBinary(data)
	return b, err
}

// Components travel in binary: a table of thousands of 100-float vectors
// costs seconds as JSON.
func encodeComponent(c features.Component) []byte {
	out := make([]byte, 0, 16+len(c.Exercise)+len(c.ProblemType)+8*len(c.Vector))
	out = features.AppendComponentKey(out, c.ComponentKey)
	out = binary.AppendUvarint(out, uint64(len(c.Vector)))
	for _, v := range c.Vector {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
	}
	return out
}

func decodeComponent(b []byte) (features.Component, error) {
	d := &wire.Decoder{B: b}
	c := features.Component{ComponentKey: features.ReadComponentKey(d)}
	n := d.Uvarint()
	if n > uint64(len(d.B))/8 { // and 8*n does not wrap around
		return features.Component{}, fmt.Errorf("component: %w", wire.ErrCorrupt)
	}
	raw := d.Bytes(8 * n)
	if d.Err != nil || len(d.B) != 0 {
		return features.Component{}, fmt.Errorf("component: %w", wire.ErrCorrupt)
	}
	c.Vector = make([]float64, n)
	for i := range c.Vector {
		c.Vector[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return c, nil
}
