package transforms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window/trigger"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/typex"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/live"
	"github.com/kmtrain/knowledgemodel/monitor"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/score"
)

// Message is a ProblemLog as a Pub/Sub message: Data holds it as one JSON
// line, in the fields and value formats of the JSON-lines files; ID is the
// attribute that says it is the same attempt on every delivery (or, if the
// publisher set none, Pub/Sub's message id).
type Message struct {
	ID         string
	Data       []byte
	Attributes map[string]string
}

// DeadLetter is a message that does not hold a ProblemLog, and why.
type DeadLetter struct {
	ID     string
	Data   []byte
	Reason string
}

// LiveScore is one attempt of a stream, scored before it was applied. P is
// meaningless when HasP is false (no thetas for the exercise).
type LiveScore struct {
	User     string
	Exercise string
	TimeDone int64 // Unix ms
	Correct  bool
	P        float64
	HasP     bool
}

// Counters of the streaming scorer.
var (
	liveMalformed  = beam.NewCounter("kmtrain", "messages_malformed")
	liveDuplicates = beam.NewCounter("kmtrain", "attempts_duplicate")
	liveTooLate    = beam.NewCounter("kmtrain", "attempts_too_late")
	liveOutOfOrder = beam.NewCounter("kmtrain", "attempts_out_of_order")
	liveScored     = beam.NewCounter("kmtrain", "attempts_scored_live")
	liveSwitches   = beam.NewCounter("kmtrain", "model_switches")
	liveHistory    = beam.NewCounter("kmtrain", "attempts_history")
	// liveUnseenHistory counts students whose first attempt in the stream
	// is not problem 1 of its exercise: they were active before it, and,
	// with no history given, are scored as newcomers.
	liveUnseenHistory = beam.NewCounter("kmtrain", "students_without_history")
	// liveRekeyed counts students whose state, kept under a model keyed
	// by exercise, the current model (keyed by problem type) cannot read:
	// they start again from an empty state.
	liveRekeyed = beam.NewCounter("kmtrain", "students_restarted_keying")
)

// ParseMessages parses each message's ProblemLog (problemlogs.JSONParser,
// with the files' checks) into KV<user, live.Attempts>: the attempts of a
// student in one bundle, in the order they came, at the earliest one's
// event time. A message that does not parse leaves as a DeadLetter,
// counted, with the reason.
func ParseMessages(s beam.Scope, msgs beam.PCollection) (attempts, dead beam.PCollection) {
	s = s.Scope("ParseMessages")
	return beam.ParDo2(s, &parseMessageFn{}, msgs)
}

type parseMessageFn struct {
	byUser map[string]live.Attempts
	users  []string // in the order first seen
}

func (fn *parseMessageFn) StartBundle(_ context.Context, _ func(beam.EventTime, string, live.Attempts), _ func(DeadLetter)) {
	fn.byUser, fn.users = map[string]live.Attempts{}, fn.users[:0]
}

func (fn *parseMessageFn) ProcessElement(ctx context.Context, m Message, _ func(beam.EventTime, string, live.Attempts), emitDead func(DeadLetter)) {
	l, err := problemlogs.JSONParser{Columns: problemlogs.DefaultColumns}.Parse(m.Data)
	if err != nil {
		liveMalformed.Inc(ctx, 1)
		emitDead(DeadLetter{ID: m.ID, Data: m.Data, Reason: err.Error()})
		return
	}
	if _, ok := fn.byUser[l.User]; !ok {
		fn.users = append(fn.users, l.User)
	}
	fn.byUser[l.User] = append(fn.byUser[l.User], live.Attempt{ID: m.ID, Log: l})
}

func (fn *parseMessageFn) FinishBundle(_ context.Context, emit func(beam.EventTime, string, live.Attempts), _ func(DeadLetter)) {
	for _, u := range fn.users {
		as := fn.byUser[u]
		emit(beam.EventTime(as.Earliest().UnixMilli()), u, as)
	}
	fn.byUser, fn.users = nil, fn.users[:0]
}

// AttemptsOf turns batches of ProblemLogs (KV<key, LogBatch>, as
// ReadProblemLogs gives them) into a stream's attempts, KV<user,
// live.Attempts> at the earliest one's time_done: how a history, or files
// replayed as a stream, enter ScoreLive. They have no ids: files hold no
// redeliveries.
func AttemptsOf(s beam.Scope, batches beam.PCollection) beam.PCollection {
	s = s.Scope("AttemptsOf")
	return beam.ParDo(s, attemptsOf, batches)
}

func attemptsOf(_ string, b LogBatch, emit func(beam.EventTime, string, live.Attempts)) {
	emitAttempts(b, false, emit)
}

// HistoryOf is AttemptsOf for the attempts before a stream started (the
// --history of cmd/kmstream): ScoreLive applies them to the students'
// states, so that a returning student is not a newcomer, without scoring
// them.
func HistoryOf(s beam.Scope, batches beam.PCollection) beam.PCollection {
	s = s.Scope("HistoryOf")
	return beam.ParDo(s, historyOf, batches)
}

func historyOf(_ string, b LogBatch, emit func(beam.EventTime, string, live.Attempts)) {
	emitAttempts(b, true, emit)
}

// emitAttempts emits each student's logs of b as one live.Attempts.
func emitAttempts(b LogBatch, history bool, emit func(beam.EventTime, string, live.Attempts)) {
	byUser := map[string]live.Attempts{}
	var users []string
	for _, l := range b.Logs {
		if _, ok := byUser[l.User]; !ok {
			users = append(users, l.User)
		}
		byUser[l.User] = append(byUser[l.User], live.Attempt{Log: l, History: history})
	}
	for _, u := range users {
		as := byUser[u]
		emit(beam.EventTime(as.Earliest().UnixMilli()), u, as)
	}
}

// LiveOptions configures ScoreLive.
type LiveOptions struct {
	// Model is where the version to score with is: a directory or the
	// version current in Datastore.
	Model ModelSource
	// Poll is how often each worker looks for a newer version (0: never).
	Poll time.Duration
	// Horizon is how long after a student's latest applied attempt an
	// older one is still applied (and a redelivery recognised); the
	// allowed lateness of the windows is the natural choice.
	Horizon time.Duration
}

// ScoreLive scores each attempt of a stream (KV<user, live.Attempt>, in
// the global window) with the current version before applying it to the
// student's state, which it keeps in Beam state. Attempts wait for the
// watermark to pass them and are applied in time order; a redelivered one
// is applied once; see package live. The scores leave at the attempts'
// event times, as KV<version, LiveScore>: the version that scored each.
func ScoreLive(s beam.Scope, attempts beam.PCollection, opts LiveOptions) beam.PCollection {
	s = s.Scope("ScoreLive")
	return beam.ParDo(s, &scoreLiveFn{
		Model:   opts.Model,
		Poll:    opts.Poll,
		Horizon: opts.Horizon,
		Student: state.MakeValueState[[]byte]("student"),
		Flush:   timers.InEventTime("flush"),
	}, attempts)
}

type scoreLiveFn struct {
	Model   ModelSource
	Poll    time.Duration
	Horizon time.Duration

	// Student is the student's live.State, in one value: each state
	// request is a round trip to the runner, and an arrival or a flush
	// needs one read and one write.
	Student state.Value[[]byte]
	Flush   timers.EventTime

	model   *predict.Model
	checked time.Time
}

func (fn *scoreLiveFn) Setup(ctx context.Context) error {
	m, err := LoadModel(ctx, fn.Model)
	if err != nil {
		return fmt.Errorf("loading the model to score with: %v", err)
	}
	fn.model, fn.checked = m, time.Now()
	log.Infof(ctx, "scoring live with version %s of %s (%d exercises)", m.Version, fn.Model, len(m.Thetas))
	return nil
}

// StartBundle switches to a newer version, if one became current since the
// last look: a version applies from the first bundle that starts after a
// worker sees it, and every score says which version made it.
func (fn *scoreLiveFn) StartBundle(ctx context.Context, _ func(beam.EventTime, string, LiveScore)) {
	if fn.Poll <= 0 || time.Since(fn.checked) < fn.Poll {
		return
	}
	fn.checked = time.Now()
	m, err := LoadModel(ctx, fn.Model)
	if err != nil {
		log.Warnf(ctx, "looking for a newer version of %s: %v; scoring on with %s", fn.Model, err, fn.model.Version)
		return
	}
	if m.Version != fn.model.Version {
		log.Infof(ctx, "switching from version %s to %s", fn.model.Version, m.Version)
		liveSwitches.Inc(ctx, 1)
		fn.model = m
	}
}

func (fn *scoreLiveFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider,
	user string, as live.Attempts, emit func(beam.EventTime, string, LiveScore)) error {
	st, err := fn.student(sp)
	if err != nil {
		return fmt.Errorf("student %q: %v", user, err)
	}
	ids := st.Waiting.IDs()
	setTimer := false
	for _, a := range as {
		switch st.Record.Admit(a, ids, fn.Horizon) {
		case live.Duplicate:
			liveDuplicates.Inc(ctx, 1)
		case live.TooLate:
			liveTooLate.Inc(ctx, 1)
		case live.Now:
			liveOutOfOrder.Inc(ctx, 1)
			if err := fn.apply(ctx, &st.Record, []live.Attempt{a}, emit); err != nil {
				return fmt.Errorf("student %q: %v", user, err)
			}
		default:
			if st.Waiting.Add(a) {
				setTimer = true
			}
			if a.ID != "" {
				ids = append(ids, a.ID)
			}
		}
	}
	if setTimer {
		fn.setTimer(tp, st.Waiting)
	}
	return fn.Student.Write(sp, st.AppendBinary(nil))
}

// setTimer sets a flush timer to fire when the watermark passes w.At and to
// hold the output watermark at w.Hold, so that each score leaves at its
// attempt's time; its tag says both.
//
// An earlier attempt lowers the hold by setting another timer for the same
// time, under a tag of its own, rather than setting the first again: prism
// (Beam v2.77.0) miscounts its holds when a pending timer's hold changes
// ("negative watermark hold count"). The firings after the first find
// nothing to do (stale).
func (fn *scoreLiveFn) setTimer(tp timers.Provider, w live.Waiting) {
	hold := min(w.At, w.Hold)
	fn.Flush.Set(tp, time.UnixMilli(w.At), timers.WithTag(fmt.Sprintf("%d/%d", w.At, hold)),
		timers.WithOutputTimestamp(time.UnixMilli(hold)))
}

// OnTimer applies, in time order, every attempt pending at or before the
// time the timer was set for: the watermark has passed them all, so no
// attempt still on time can come before them. If attempts wait beyond,
// the timer is set again for the latest of them, so a student's backlog
// takes two firings, not one per attempt.
func (fn *scoreLiveFn) OnTimer(ctx context.Context, sp state.Provider, tp timers.Provider, user string,
	timer timers.Context, emit func(beam.EventTime, string, LiveScore)) error {
	if timer.Family != fn.Flush.Family {
		return nil
	}
	st, err := fn.student(sp)
	if err != nil {
		return fmt.Errorf("student %q: %v", user, err)
	}
	var firing int64
	if _, err := fmt.Sscanf(timer.Tag, "%d/", &firing); err != nil || st.Waiting.None() || firing != st.Waiting.At {
		return nil // stale: a timer for the same time that fired first, or one already replaced
	}
	// The end of the millisecond the timer was set for: timers have
	// millisecond precision, time_done more.
	due, rest := live.Due(st.Waiting.Attempts, time.UnixMilli(st.Waiting.At+1).Add(-time.Nanosecond))
	if len(due) > 0 {
		if err := fn.apply(ctx, &st.Record, due, emit); err != nil {
			return fmt.Errorf("student %q: %v", user, err)
		}
	}
	st.Waiting = live.WaitingOf(rest)
	if len(rest) > 0 {
		fn.setTimer(tp, st.Waiting)
	}
	return fn.Student.Write(sp, st.AppendBinary(nil))
}

// apply scores and applies due attempts to the student's record and emits
// their scores at their times.
func (fn *scoreLiveFn) apply(ctx context.Context, r *live.Record, due []live.Attempt,
	emit func(beam.EventTime, string, LiveScore)) error {
	m := fn.model
	if len(r.State) == 0 && !due[0].History && due[0].Log.ProblemNumber > 1 {
		liveUnseenHistory.Inc(ctx, 1)
	}
	var history int64
	yield := func(a live.Attempt, p []score.Prediction, _ *score.Student) error {
		if a.History {
			history++
			return nil
		}
		emit(beam.EventTime(a.Log.TimeDone.UnixMilli()), m.Version,
			LiveScore{User: a.Log.User, Exercise: a.Log.Exercise, TimeDone: a.Log.TimeDone.UnixMilli(), Correct: a.Log.Correct, P: p[0].P, HasP: p[0].OK})
		return nil
	}
	err := r.Apply(due, fn.Horizon, []*predict.Model{m}, yield)
	if errors.Is(err, features.ErrKeyingChanged) { // nothing was applied: the state could not be read
		liveRekeyed.Inc(ctx, 1)
		r.State = nil
		err = r.Apply(due, fn.Horizon, []*predict.Model{m}, yield)
	}
	if err != nil {
		return err
	}
	liveScored.Inc(ctx, int64(len(due))-history)
	liveHistory.Inc(ctx, history)
	return nil
}

func (fn *scoreLiveFn) student(sp state.Provider) (live.State, error) {
	b, ok, err := fn.Student.Read(sp)
	if err != nil || !ok {
		return live.State{}, err
	}
	return live.ReadState(b)
}

// WindowOptions configures WatchWindows.
type WindowOptions struct {
	// Size is the length of the fixed windows of event time.
	Size time.Duration
	// AllowedLateness is how long after a window closes late attempts are
	// still added to it; each late one updates the window's rows.
	AllowedLateness time.Duration
}

// LiveWindow is the metrics of one version's scores in one window: a row
// per exercise, as monitoring's per day. Each firing of the window (when
// the watermark passes its end, then once per late arrival) gives the
// window's rows so far: the latest firing is the window's result.
type LiveWindow struct {
	Start, End int64 // Unix ms
	Version    string
	// Pane is the firing's index, from 0; Late is true for a firing after
	// the watermark passed the window's end.
	Pane int64
	Late bool
	Rows []monitor.Row
}

// WatchWindows sums scores (KV<version, LiveScore>) per fixed window of
// event time with the CombineFn of batch evaluation's metrics and gives a
// LiveWindow per window and version. Rows are labelled by the window's
// start, as monitor.Row's Day (a date for windows of whole days, else an
// RFC 3339 time).
func WatchWindows(s beam.Scope, scores beam.PCollection, opts WindowOptions) beam.PCollection {
	s = s.Scope("WatchWindows")
	// Each bundle's scores are summed per version and window first, so that
	// a window's combine sees a partial per bundle, not an element per
	// attempt: lateness is per window, so the partials are late exactly
	// when their scores would be.
	pre := beam.ParDo(s, &preCombineFn{Size: opts.Size}, scores)
	windowed := beam.WindowInto(s, window.NewFixedWindows(opts.Size), pre,
		beam.AllowedLateness(opts.AllowedLateness), beam.PanesAccumulate(),
		beam.Trigger(trigger.AfterEndOfWindow().LateFiring(trigger.Always())))
	partials := beam.CombinePerKey(s, &mergeEvalFn{}, windowed)
	return beam.ParDo(s, &windowRowsFn{}, partials)
}

// preCombineFn sums a bundle's scores (KV<version, LiveScore>) per version
// and fixed window of Size into an EvalPartial, emitted when the bundle
// finishes at the earliest of its scores' times, in that window.
type preCombineFn struct {
	Size time.Duration

	parts map[preKey]*prePartial
}

type preKey struct {
	version string
	window  int64 // start, Unix ms
}

type prePartial struct {
	first int64 // the earliest score's time, Unix ms
	p     EvalPartial
}

func (fn *preCombineFn) StartBundle(_ func(beam.EventTime, string, EvalPartial)) {
	fn.parts = map[preKey]*prePartial{}
}

func (fn *preCombineFn) ProcessElement(et beam.EventTime, version string, sc LiveScore, _ func(beam.EventTime, string, EvalPartial)) error {
	ms, size := et.Milliseconds(), fn.Size.Milliseconds()
	start := ms - ((ms%size)+size)%size
	k := preKey{version, start}
	pp := fn.parts[k]
	if pp == nil {
		pp = &prePartial{first: ms, p: EvalPartial{Acc: evaluate.NewAccumulator()}}
		fn.parts[k] = pp
	}
	pp.first = min(pp.first, ms)
	return pp.p.Acc.Add(evaluate.Attempt{Exercise: sc.Exercise, Correct: sc.Correct, P: sc.P, HasP: sc.HasP})
}

func (fn *preCombineFn) FinishBundle(emit func(beam.EventTime, string, EvalPartial)) {
	for k, pp := range fn.parts {
		emit(beam.EventTime(pp.first), k.version, pp.p)
	}
	fn.parts = nil
}

type windowRowsFn struct{}

func (fn *windowRowsFn) ProcessElement(pane typex.PaneInfo, w typex.Window, version string, p EvalPartial, emit func(LiveWindow)) {
	iw := w.(window.IntervalWindow)
	out := LiveWindow{Start: iw.Start.Milliseconds(), End: iw.End.Milliseconds(), Version: version,
		Pane: pane.Index, Late: pane.Timing == typex.PaneLate}
	if p.Acc != nil {
		out.Rows = monitor.DayRows(windowLabel(iw.Start.ToTime(), iw.End.ToTime()), p.Acc.Report())
	}
	emit(out)
}

// windowLabel names a window by its start: the date of a window of whole
// UTC days, else the start in RFC 3339.
func windowLabel(start, end time.Time) string {
	start, end = start.UTC(), end.UTC()
	if end.Sub(start)%(24*time.Hour) == 0 && start.Truncate(24*time.Hour).Equal(start) {
		return start.Format(monitor.DayLayout)
	}
	return start.Format(time.RFC3339)
}
