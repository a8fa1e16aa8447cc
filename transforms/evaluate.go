package transforms

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/score"
	"github.com/kmtrain/knowledgemodel/store"
)

// The baselines every evaluation scores on the same attempts as the model.
const (
	// BaselineCorrectRate predicts the exercise's correct rate in training.
	BaselineCorrectRate = "correct_rate"
	// BaselineNoKnowledge is the model without the KnowledgeState: the bias
	// and the 6 ExerciseState features, fitted on the same rows.
	BaselineNoKnowledge = "no_knowledge"
)

// EvalOptions configures EvaluateStudents.
type EvalOptions struct {
	Keying features.ComponentKeying
	// After, if set, scores only the attempts at or after it (the rest of
	// each history is replayed to build the state).
	After time.Time
	// Predictions emits every evaluated attempt as a CSV line.
	Predictions bool
	// Current, if set, re-scores the attempts with the version current in
	// Datastore, for the promotion gate.
	Current *Datastore
}

// EvalPartial is the evaluation of some students: the metrics of the new
// version and the baselines, and its comparison with the current version.
// Partials merge into the evaluation of the run (MergeEvaluations); the
// zero EvalPartial evaluated nobody.
type EvalPartial struct {
	Accumulator []byte // evaluate.Accumulator, binary; empty: nobody evaluated
	Comparer    []byte // evaluate.Comparer, binary
	// Currents are the current versions the students were compared with
	// ("": none): one, unless workers read the current version as it changed.
	Currents []string
}

// Evaluated is the output of EvaluateStudents.
type Evaluated struct {
	Partials    beam.PCollection // EvalPartial
	Predictions beam.PCollection // KV<user, CSV lines>, if asked for
}

// PredictionsHeader is the header of the --eval_predictions CSV.
const PredictionsHeader = "user,exercise,problem_type,problem_number,time_done,correct,p\n"

// EvaluateStudents replays each student (KV<user, LogBatch> holding the
// whole history) with the trained thetas and predicts every attempt before
// applying it, as the webapp would, together with the baselines (and the
// current version, when opts.Current is set).
func EvaluateStudents(s beam.Scope, students, thetas, components beam.PCollection, opts EvalOptions) Evaluated {
	s = s.Scope("EvaluateStudents")
	partials, preds := beam.ParDo2(s, &evaluateFn{Keying: opts.Keying, After: opts.After,
		Predictions: opts.Predictions, Current: opts.Current},
		students, beam.SideInput{Input: thetas}, beam.SideInput{Input: components})
	return Evaluated{Partials: partials, Predictions: preds}
}

// GroupStudents turns logs batched per group of students (as a source
// emits them) into one KV<user, LogBatch> per student, for
// EvaluateStudents.
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

type evaluateFn struct {
	Keying      features.ComponentKeying
	After       time.Time
	Predictions bool
	Current     *Datastore

	model       *predict.Model // from the side inputs
	noKnowledge map[string][]float64
	correctRate map[string]float64
	current     *predict.Model // nil: nothing to compare with
	currentID   string
	loaded      bool
	acc         *evaluate.Accumulator
	cmp         *evaluate.Comparer
	baselines   []float64
}

func (fn *evaluateFn) Setup(ctx context.Context) error {
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

func (fn *evaluateFn) StartBundle(_ context.Context, _ func(*model.ExerciseThetas) bool, _ func(*features.Component) bool,
	_ func(EvalPartial), _ func(string, string)) {
	fn.acc = evaluate.NewAccumulator(BaselineCorrectRate, BaselineNoKnowledge)
	fn.cmp = &evaluate.Comparer{}
}

// load builds the model being evaluated from the side inputs, once.
func (fn *evaluateFn) load(thetaIter func(*model.ExerciseThetas) bool, compIter func(*features.Component) bool) error {
	if fn.loaded {
		return nil
	}
	var thetas []model.ExerciseThetas
	var t model.ExerciseThetas
	fn.noKnowledge, fn.correctRate = map[string][]float64{}, map[string]float64{}
	for thetaIter(&t) {
		thetas = append(thetas, t)
		if len(t.NoKnowledgeThetas) > 0 {
			fn.noKnowledge[t.Exercise] = t.NoKnowledgeThetas
		}
		fn.correctRate[t.Exercise] = t.CorrectRate
	}
	var comps []features.Component
	var c features.Component
	for compIter(&c) {
		comps = append(comps, c)
	}
	m := &predict.Model{Thetas: map[string][]float64{}}
	var err error
	if len(thetas) > 0 {
		m, err = predict.New(thetas[0].Version, thetas, comps)
	} else { // no thetas: every attempt is counted as having none
		m.Components, err = features.NewComponents(comps)
	}
	if err != nil {
		return err
	}
	m.Components.Keying = fn.Keying
	fn.model, fn.loaded = m, true
	return nil
}

func (fn *evaluateFn) ProcessElement(ctx context.Context, user string, batch LogBatch,
	thetaIter func(*model.ExerciseThetas) bool, compIter func(*features.Component) bool,
	_ func(EvalPartial), emitPrediction func(string, string)) error {
	if err := fn.load(thetaIter, compIter); err != nil {
		return err
	}
	models := []*predict.Model{fn.model}
	if fn.current != nil {
		models = append(models, fn.current)
	}
	student := score.NewStudent(models...)
	var lines strings.Builder
	err := score.Replay(student, batch.Logs, fn.After, func(l features.ProblemLog, p []score.Prediction) error {
		return fn.score(student, l, p, &lines)
	})
	if err != nil {
		return fmt.Errorf("evaluating %s: %v", user, err)
	}
	if lines.Len() > 0 {
		emitPrediction(user, lines.String())
	}
	return nil
}

// score accumulates one attempt's predictions (the new version's, then the
// current one's if any), made before it is applied, with the baselines'.
func (fn *evaluateFn) score(student *score.Student, l features.ProblemLog, p []score.Prediction, lines *strings.Builder) error {
	fn.baselines = append(fn.baselines[:0], math.NaN(), math.NaN())
	if p[0].OK {
		fn.baselines[0] = fn.correctRate[l.Exercise]
		if th := fn.noKnowledge[l.Exercise]; th != nil {
			fn.baselines[1] = student.State(0).PredictPrefix(l.Exercise, th)
		}
	}
	if err := fn.acc.Add(evaluate.Attempt{Exercise: l.Exercise, Correct: l.Correct, P: p[0].P, HasP: p[0].OK, Baselines: fn.baselines}); err != nil {
		return err
	}
	if len(p) > 1 {
		pNew, pCur := math.NaN(), math.NaN()
		if p[0].OK {
			pNew = p[0].P
		}
		if p[1].OK {
			pCur = p[1].P
		}
		if err := fn.cmp.Add(l.Correct, pNew, pCur); err != nil {
			return err
		}
	}
	if fn.Predictions {
		ps := ""
		if p[0].OK {
			ps = strconv.FormatFloat(p[0].P, 'g', -1, 64)
		}
		fmt.Fprintf(lines, "%s,%s,%s,%d,%s,%t,%s\n", csvField(l.User), csvField(l.Exercise), csvField(l.ProblemType),
			l.ProblemNumber, l.TimeDone.UTC().Format(time.RFC3339Nano), l.Correct, ps)
	}
	return nil
}

func (fn *evaluateFn) FinishBundle(_ context.Context, _ func(*model.ExerciseThetas) bool, _ func(*features.Component) bool,
	emit func(EvalPartial), _ func(string, string)) error {
	acc, err := fn.acc.MarshalBinary()
	if err != nil {
		return err
	}
	cmp, err := fn.cmp.MarshalBinary()
	if err != nil {
		return err
	}
	emit(EvalPartial{Accumulator: acc, Comparer: cmp, Currents: []string{fn.currentID}})
	return nil
}

// csvField quotes a CSV field when it needs it.
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n\r") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// MergeEvaluations merges the evaluation partials of a run (EvalPartial,
// from EvaluateStudents) into one EvalPartial, with a CombineFn: the runner
// merges partial results where it likes, per window too. Without any it
// is the zero EvalPartial.
func MergeEvaluations(s beam.Scope, partials beam.PCollection) beam.PCollection {
	s = s.Scope("MergeEvaluations")
	return beam.Combine(s, &mergeEvalFn{}, partials)
}

// mergeEvalFn is MergeEvaluations' CombineFn.
type mergeEvalFn struct{}

func (*mergeEvalFn) CreateAccumulator() EvalPartial { return EvalPartial{} }

func (*mergeEvalFn) AddInput(a, p EvalPartial) (EvalPartial, error) { return mergeEval(a, p) }

func (*mergeEvalFn) MergeAccumulators(a, b EvalPartial) (EvalPartial, error) { return mergeEval(a, b) }

func (*mergeEvalFn) ExtractOutput(a EvalPartial) EvalPartial { return a }

// mergeEval merges two partials.
func mergeEval(a, b EvalPartial) (EvalPartial, error) {
	if len(b.Accumulator) == 0 {
		return a, nil
	}
	if len(a.Accumulator) == 0 {
		return b, nil
	}
	both := []EvalPartial{a, b}
	acc, cmp, currents, _, err := mergePartials(func(p *EvalPartial) bool {
		if len(both) == 0 {
			return false
		}
		*p, both = both[0], both[1:]
		return true
	})
	if err != nil {
		return EvalPartial{}, err
	}
	out := EvalPartial{Currents: currents}
	if out.Accumulator, err = acc.MarshalBinary(); err != nil {
		return EvalPartial{}, err
	}
	if out.Comparer, err = cmp.MarshalBinary(); err != nil {
		return EvalPartial{}, err
	}
	return out, nil
}

// mergePartials merges the partial evaluations of a run. It reports ok
// false when nobody was evaluated (nothing was held out), and the current
// versions the partials were compared with, sorted.
func mergePartials(iter func(*EvalPartial) bool) (acc *evaluate.Accumulator, cmp *evaluate.Comparer, currents []string, ok bool, err error) {
	acc = evaluate.NewAccumulator(BaselineCorrectRate, BaselineNoKnowledge)
	cmp = &evaluate.Comparer{}
	var p EvalPartial
	for iter(&p) {
		if len(p.Accumulator) == 0 {
			continue
		}
		ok = true
		a := &evaluate.Accumulator{}
		if err := a.UnmarshalBinary(p.Accumulator); err != nil {
			return nil, nil, nil, false, err
		}
		if err := acc.Merge(a); err != nil {
			return nil, nil, nil, false, err
		}
		c := &evaluate.Comparer{}
		if err := c.UnmarshalBinary(p.Comparer); err != nil {
			return nil, nil, nil, false, err
		}
		cmp.Merge(c)
		for _, cur := range p.Currents {
			if !slices.Contains(currents, cur) {
				currents = append(currents, cur)
			}
		}
	}
	slices.Sort(currents)
	return acc, cmp, currents, ok, nil
}

// encodeEvalPartial is EvalPartial's coder: the two binary accumulators and
// the currents, each length-prefixed.
func encodeEvalPartial(v EvalPartial) ([]byte, error) {
	b := binary.AppendUvarint(nil, uint64(len(v.Accumulator)))
	b = append(b, v.Accumulator...)
	b = binary.AppendUvarint(b, uint64(len(v.Comparer)))
	b = append(b, v.Comparer...)
	b = binary.AppendUvarint(b, uint64(len(v.Currents)))
	for _, c := range v.Currents {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b, nil
}

func decodeEvalPartial(b []byte) (EvalPartial, error) {
	var v EvalPartial
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("evaluation partial: truncated")
		}
		out := b[k : k+int(n)]
		b = b[k+int(n):]
		return out, nil
	}
	var err error
	if v.Accumulator, err = next(); err != nil {
		return v, err
	}
	if v.Comparer, err = next(); err != nil {
		return v, err
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return v, fmt.Errorf("evaluation partial: truncated")
	}
	b = b[k:]
	for range n {
		c, err := next()
		if err != nil {
			return v, err
		}
		v.Currents = append(v.Currents, string(c))
	}
	if len(b) > 0 {
		return v, fmt.Errorf("evaluation partial: %d bytes after it", len(b))
	}
	return v, nil
}
