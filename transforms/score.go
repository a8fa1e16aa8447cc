package transforms

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/wire"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/monitor"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/score"
	"github.com/kmtrain/knowledgemodel/store"
)

// The baselines every evaluation scores on the same attempts as the model
// (score.BaselineNames).
const (
	BaselineCorrectRate = score.BaselineCorrectRate
	BaselineNoKnowledge = score.BaselineNoKnowledge
)

// Counts and examples of a scoring run, besides those of the reader.
const (
	CountStudentsMonitored = "students_monitored" // students whose attempts were predicted
	CountAttemptsScored    = "attempts_scored"    // attempts on exercises the model has thetas for
	CountAttemptsNoThetas  = "attempts_no_thetas" // attempts on exercises without thetas: counted, not scored
	ExampleModelVersion    = "model_version"      // the version each scoring bundle used
)

// DefaultFlushAttempts is how many attempts a scoring bundle accumulates
// before it emits its partial evaluations.
const DefaultFlushAttempts = 1 << 20

// Bucket says which attempts' metrics ScoreStudents accumulates together;
// inside a bucket they are kept per exercise. Per window is a Bucket of the
// windowed PCollection: the CombineFns that merge partials run per window.
type Bucket string

const (
	// BucketAll puts every attempt in one bucket, "".
	BucketAll Bucket = ""
	// BucketDay buckets attempts by the UTC day of time_done
	// (monitor.DayLayout).
	BucketDay Bucket = "day"
)

// Of returns the bucket of attempt l.
func (b Bucket) Of(l features.ProblemLog) string {
	if b == BucketDay {
		return l.TimeDone.UTC().Format(monitor.DayLayout)
	}
	return ""
}

// ScoringModel is the model ScoreStudents predicts with: a version trained
// in the pipeline (its thetas and components, as side inputs; no thetas
// counts every attempt as without thetas), or one every worker loads from
// Source.
type ScoringModel struct {
	Thetas     beam.PCollection // model.ExerciseThetas
	Components beam.PCollection // features.Component
	Keying     features.ComponentKeying
	// Source, if set, is loaded instead of the side inputs.
	Source ModelSource
}

// ScoreOptions configures ScoreStudents.
type ScoreOptions struct {
	Bucket Bucket
	// After, if set, scores only the attempts at or after it (the rest of
	// each history is replayed to build the state).
	After time.Time
	// Baselines scores the baselines (score.BaselineNames) too.
	Baselines bool
	// Predictions emits every scored attempt as a CSV line.
	Predictions bool
	// Current, if set, scores the attempts with the version current in
	// Datastore too, for the promotion gate.
	Current *Datastore
}

// Scored is the output of ScoreStudents.
type Scored struct {
	Partials    beam.PCollection // KV<bucket, EvalPartial>, per bundle
	Predictions beam.PCollection // KV<user, CSV lines>, if asked for
	Stats       beam.PCollection // Stats: students and attempts scored, the version
}

// EvalPartial is the evaluation of some attempts: the metrics of the model
// (and the baselines, if scored) and its comparison with the current
// version. Partials merge (MergeEvaluations); the zero EvalPartial
// evaluated nothing.
type EvalPartial struct {
	Acc *evaluate.Accumulator // nil: nothing evaluated
	Cmp evaluate.Comparer
	// Currents are the current versions the attempts were compared with
	// ("": none): one, unless workers read the current version as it changed.
	Currents []string
}

// PredictionsHeader is the header of the --eval_predictions CSV.
const PredictionsHeader = "user,exercise,problem_type,problem_number,time_done,correct,p\n"

// ScoreStudents replays each student (KV<user, LogBatch> holding the whole
// history, as GroupStudents or ReplayStudents' held-out output give) under
// the model and predicts every attempt before applying it, as the webapp
// would (score.Replay), with the baselines and the current version if asked
// for. Attempts are accumulated per bucket (opts.Bucket) and leave as
// partial evaluations per bundle, for MergeEvaluations. Each DoFn instance
// builds or loads the model once; its students share it (a predict.Model is
// immutable).
func ScoreStudents(s beam.Scope, students beam.PCollection, m ScoringModel, opts ScoreOptions) Scored {
	s = s.Scope("ScoreStudents")
	if !m.Thetas.IsValid() {
		m.Thetas = beam.CreateList(s, []model.ExerciseThetas{})
	}
	if !m.Components.IsValid() {
		m.Components = beam.CreateList(s, []features.Component{})
	}
	fn := &scoreStudentsFn{Source: m.Source, Keying: m.Keying, Bucket: opts.Bucket, After: opts.After,
		Baselines: opts.Baselines, Predictions: opts.Predictions, Current: opts.Current}
	partials, preds, stats := beam.ParDo3(s, fn, students, beam.SideInput{Input: m.Thetas}, beam.SideInput{Input: m.Components})
	return Scored{Partials: partials, Predictions: preds, Stats: stats}
}

// GroupStudents turns logs batched per group of students (as a source
// emits them) into one KV<user, LogBatch> per student, for ScoreStudents.
func GroupStudents(s beam.Scope, logs beam.PCollection) beam.PCollection {
	s = s.Scope("GroupStudents")
	return beam.ParDo(s, splitStudents, beam.GroupByKey(s, logs))
}

func splitStudents(_ string, batches func(*LogBatch) bool, emit func(string, LogBatch)) error {
	return eachStudent(batches, func(user string, logs []features.ProblemLog) error {
		emit(user, LogBatch{Logs: logs})
		return nil
	})
}

type scoreStudentsFn struct {
	Source        ModelSource
	Keying        features.ComponentKeying
	Bucket        Bucket
	After         time.Time
	Baselines     bool
	Predictions   bool
	Current       *Datastore
	FlushAttempts int

	model     *predict.Model // immutable: shared by the bundle's students
	baselines *score.Baselines
	current   *predict.Model // nil: nothing to compare with
	currentID string
	loaded    bool

	parts    map[string]*EvalPartial // per bucket
	buffered int
	stats    Stats
	lastLog  time.Time
	preds    []float64
}

func (fn *scoreStudentsFn) Setup(ctx context.Context) error {
	if fn.Source != (ModelSource{}) {
		r, err := LoadRecords(ctx, fn.Source)
		if err != nil {
			return fmt.Errorf("loading the model: %v", err)
		}
		if err := fn.build(r); err != nil {
			return fmt.Errorf("loading the model: %s: %v", fn.Source, err)
		}
		log.Infof(ctx, "scoring with version %s of %s (%d exercises)", fn.model.Version, fn.Source, len(fn.model.Thetas))
	}
	if fn.Current == nil {
		return nil
	}
	m, err := LoadModel(ctx, ModelSource{Datastore: fn.Current})
	switch {
	case errors.Is(err, store.ErrNoCurrent):
		log.Infof(ctx, "%s: no current version to compare with", fn.Current)
		return nil
	case err != nil:
		return fmt.Errorf("%s: loading the current version: %v", fn.Current, err)
	}
	fn.current, fn.currentID = m, m.Version
	return nil
}

// build makes the model to score with, and its baselines, of a version's
// records; a version without thetas scores nothing and counts every
// attempt as without thetas.
func (fn *scoreStudentsFn) build(r model.Records) error {
	fn.baselines = score.NewBaselines(r.Thetas)
	fn.loaded = true
	if len(r.Thetas) > 0 {
		m, err := predict.FromRecords(r)
		fn.model = m
		return err
	}
	comps, err := features.NewComponents(r.Components)
	if err != nil {
		return err
	}
	k, err := features.ParseComponentKeying(r.ComponentKey)
	comps.Keying = k
	fn.model = &predict.Model{Version: r.Version, Thetas: map[string][]float64{}, Components: comps}
	return err
}

// load builds the model from the side inputs, once, unless Setup loaded it.
func (fn *scoreStudentsFn) load(thetaIter func(*model.ExerciseThetas) bool, compIter func(*features.Component) bool) error {
	if fn.loaded {
		return nil
	}
	r := model.Records{ComponentKey: fn.Keying.String()}
	var t model.ExerciseThetas
	for thetaIter(&t) {
		r.Thetas = append(r.Thetas, t)
	}
	if len(r.Thetas) > 0 {
		r.Version = r.Thetas[0].Version
	}
	var c features.Component
	for compIter(&c) {
		r.Components = append(r.Components, c)
	}
	return fn.build(r)
}

func (fn *scoreStudentsFn) StartBundle(_ context.Context, _ func(*model.ExerciseThetas) bool, _ func(*features.Component) bool,
	_ func(string, EvalPartial), _ func(string, string), _ func(Stats)) {
	fn.parts = map[string]*EvalPartial{}
	fn.buffered = 0
	fn.stats = Stats{}
	if fn.FlushAttempts <= 0 {
		fn.FlushAttempts = DefaultFlushAttempts
	}
}

func (fn *scoreStudentsFn) ProcessElement(ctx context.Context, user string, batch LogBatch,
	thetaIter func(*model.ExerciseThetas) bool, compIter func(*features.Component) bool,
	emitPartial func(string, EvalPartial), emitPrediction func(string, string), _ func(Stats)) error {
	if err := fn.load(thetaIter, compIter); err != nil {
		return err
	}
	if err := fn.student(user, batch.Logs, emitPartial, emitPrediction); err != nil {
		return fmt.Errorf("scoring %s: %v", user, err)
	}
	if time.Since(fn.lastLog) > 10*time.Second {
		fn.lastLog = time.Now()
		log.Infof(ctx, "scoring: %d students, %d attempts scored in this bundle so far",
			fn.stats.Counts[CountStudentsMonitored], fn.stats.Counts[CountAttemptsScored])
	}
	return nil
}

// student scores one student's attempts: the model's prediction (with the
// baselines') into the attempt's bucket, and its comparison with the
// current version's.
func (fn *scoreStudentsFn) student(user string, logs []features.ProblemLog,
	emitPartial func(string, EvalPartial), emitPrediction func(string, string)) error {
	models := []*predict.Model{fn.model}
	if fn.current != nil {
		models = append(models, fn.current)
	}
	student := score.NewStudent(models...)
	var lines strings.Builder
	var part *EvalPartial
	bucket := ""
	var scored, noThetas int64
	err := score.Replay(student, logs, fn.After, func(l features.ProblemLog, p []score.Prediction) error {
		if b := fn.Bucket.Of(l); part == nil || b != bucket {
			part, bucket = fn.partial(b), b
		}
		fn.preds = fn.preds[:0]
		if fn.Baselines {
			fn.preds = fn.baselines.Predict(fn.preds, student.State(0), l)
		}
		seg := evaluate.SegmentOf(student.State(0).Attempts(l.Exercise))
		if err := part.Acc.Add(evaluate.Attempt{Exercise: l.Exercise, Correct: l.Correct, P: p[0].P, HasP: p[0].OK, Segment: seg, Baselines: fn.preds}); err != nil {
			return err
		}
		if p[0].OK {
			scored++
		} else {
			noThetas++
		}
		if len(p) > 1 {
			if err := part.Cmp.Add(l.Correct, p[0].OrNaN(), p[1].OrNaN()); err != nil {
				return err
			}
		}
		if fn.Predictions {
			writePrediction(&lines, l, p[0])
		}
		return nil
	})
	if err != nil {
		return err
	}
	if lines.Len() > 0 {
		emitPrediction(user, lines.String())
	}
	fn.stats.Add(CountStudentsMonitored, 1)
	fn.stats.Add(CountAttemptsScored, scored)
	fn.stats.Add(CountAttemptsNoThetas, noThetas)
	fn.buffered += len(logs)
	if fn.buffered >= fn.FlushAttempts {
		fn.flush(emitPartial)
	}
	return nil
}

// partial returns the bundle's partial evaluation of a bucket.
func (fn *scoreStudentsFn) partial(bucket string) *EvalPartial {
	p := fn.parts[bucket]
	if p == nil {
		names := []string(nil)
		if fn.Baselines {
			names = score.BaselineNames
		}
		p = &EvalPartial{Acc: evaluate.NewAccumulator(names...), Currents: []string{fn.currentID}}
		fn.parts[bucket] = p
	}
	return p
}

// writePrediction writes one line of the predictions CSV.
func writePrediction(w *strings.Builder, l features.ProblemLog, p score.Prediction) {
	ps := ""
	if p.OK {
		ps = strconv.FormatFloat(p.P, 'g', -1, 64)
	}
	fmt.Fprintf(w, "%s,%s,%s,%d,%s,%t,%s\n", csvField(l.User), csvField(l.Exercise), csvField(l.ProblemType),
		l.ProblemNumber, l.TimeDone.UTC().Format(time.RFC3339Nano), l.Correct, ps)
}

func (fn *scoreStudentsFn) flush(emitPartial func(string, EvalPartial)) {
	for bucket, p := range fn.parts {
		emitPartial(bucket, *p)
	}
	clear(fn.parts)
	fn.buffered = 0
}

func (fn *scoreStudentsFn) FinishBundle(ctx context.Context, _ func(*model.ExerciseThetas) bool, _ func(*features.Component) bool,
	emitPartial func(string, EvalPartial), _ func(string, string), emitStats func(Stats)) {
	fn.flush(emitPartial)
	if !fn.stats.Empty() {
		fn.stats.Example(ExampleModelVersion, fn.model.Version)
		fn.stats.publish(ctx)
		emitStats(fn.stats)
	}
	fn.stats = Stats{}
}

// csvField quotes a CSV field when it needs it.
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n\r") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// MergeEvaluations merges the partial evaluations of each bucket
// (KV<bucket, EvalPartial>, from ScoreStudents) with a CombineFn: the runner
// merges partial results where it likes, before and after the shuffle, per
// window too.
func MergeEvaluations(s beam.Scope, partials beam.PCollection) beam.PCollection {
	s = s.Scope("MergeEvaluations")
	return beam.CombinePerKey(s, &mergeEvalFn{}, partials)
}

// mergeEvalFn is MergeEvaluations' CombineFn. Its accumulator is its own:
// inputs are never changed.
type mergeEvalFn struct{}

func (*mergeEvalFn) CreateAccumulator() EvalPartial { return EvalPartial{} }

// AddInput and MergeAccumulators merge before they return a: in "return a,
// a.merge(p)" the spec leaves unordered whether a is read before the call.
func (*mergeEvalFn) AddInput(a, p EvalPartial) (EvalPartial, error) {
	err := a.merge(p)
	return a, err
}

func (*mergeEvalFn) MergeAccumulators(a, b EvalPartial) (EvalPartial, error) {
	err := a.merge(b)
	return a, err
}

func (*mergeEvalFn) ExtractOutput(a EvalPartial) EvalPartial { return a }

// merge adds b's attempts to p, which then owns its accumulator; b is
// unchanged.
func (p *EvalPartial) merge(b EvalPartial) error {
	if b.Acc == nil {
		return nil
	}
	if p.Acc == nil {
		p.Acc = evaluate.NewAccumulator(b.Acc.Baselines()...)
	}
	if err := p.Acc.Merge(b.Acc); err != nil {
		return err
	}
	p.Cmp.Merge(&b.Cmp)
	for _, cur := range b.Currents {
		if !slices.Contains(p.Currents, cur) {
			p.Currents = append(p.Currents, cur)
		}
	}
	slices.Sort(p.Currents)
	return nil
}

// mergePartials merges partial evaluations, as the CombineFn does. It
// reports ok false when nothing was evaluated (nothing was held out).
func mergePartials(iter func(*EvalPartial) bool) (EvalPartial, bool, error) {
	var all, p EvalPartial
	for iter(&p) {
		if err := all.merge(p); err != nil {
			return EvalPartial{}, false, err
		}
	}
	return all, all.Acc != nil, nil
}

// encodeEvalPartial is EvalPartial's coder: the two binary encodings
// (evaluate.Accumulator, evaluate.Comparer), then the currents, each
// length-prefixed; an empty accumulator is a partial of nothing.
func encodeEvalPartial(v EvalPartial) ([]byte, error) {
	var acc, cmp []byte
	if v.Acc != nil {
		var err error
		if acc, err = v.Acc.MarshalBinary(); err != nil {
			return nil, err
		}
		if cmp, err = v.Cmp.MarshalBinary(); err != nil {
			return nil, err
		}
	}
	b := wire.AppendPrefixed(nil, acc)
	b = wire.AppendPrefixed(b, cmp)
	b = binary.AppendUvarint(b, uint64(len(v.Currents)))
	for _, c := range v.Currents {
		b = wire.AppendPrefixedString(b, c)
	}
	return b, nil
}

func decodeEvalPartial(b []byte) (EvalPartial, error) {
	d := &wire.Decoder{B: b}
	acc := d.Prefixed()
	cmp := d.Prefixed()
	var v EvalPartial
	for n := d.Uvarint(); d.Err == nil && n > 0; n-- {
		v.Currents = append(v.Currents, d.PrefixedString())
	}
	if d.Err != nil || len(d.B) != 0 {
		return EvalPartial{}, fmt.Errorf("evaluation partial: %w", wire.ErrCorrupt)
	}
	if len(acc) == 0 {
		return v, nil
	}
	v.Acc = &evaluate.Accumulator{}
	if err := v.Acc.UnmarshalBinary(acc); err != nil {
		return EvalPartial{}, fmt.Errorf("evaluation partial: %v", err)
	}
	if err := v.Cmp.UnmarshalBinary(cmp); err != nil {
		return EvalPartial{}, fmt.Errorf("evaluation partial: %v", err)
	}
	return v, nil
}
