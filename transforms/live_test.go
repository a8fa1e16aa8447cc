package transforms

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/teststream"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/monitor"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/runners"
	"github.com/kmtrain/knowledgemodel/score"
)

func init() {
	beam.RegisterFunction(toMessage)
	beam.RegisterFunction(describeDead)
	beam.RegisterFunction(byWindow)
	beam.RegisterFunction(finalPane)
}

// toMessage makes a Message of "id|json", as the Pub/Sub source would.
// streaming runs the rest of the test with the flags of a streaming job
// (runners.Streaming: on prism, no splitting of bundles, which in Beam
// v2.77.0 loses watermark holds and makes on-time attempts late), restored
// after it.
func streaming(t *testing.T) {
	t.Helper()
	testutil.SetFlags(t, map[string]string{"experiments": *jobopts.Experiments})
	runners.Streaming()
}

func toMessage(s string) Message {
	id, data, _ := strings.Cut(s, "|")
	return Message{ID: id, Data: []byte(data)}
}

func describeDead(d DeadLetter) string { return d.ID }

func byWindow(w LiveWindow) (int64, LiveWindow) { return w.Start, w }

// finalPane describes a window's latest firing, its result: the one with
// the most attempts, as panes accumulate. (Prism, in Beam v2.77.0, gives a
// late firing the pane index 0 and the timing of an on-time one.)
func finalPane(start int64, panes func(*LiveWindow) bool) string {
	var last, w LiveWindow
	most := int64(-1)
	for panes(&w) {
		if n := windowAttempts(w); n > most {
			last, most = w, n
		}
	}
	return describeWindow(last)
}

func windowAttempts(w LiveWindow) int64 {
	var n int64
	for _, r := range w.Rows {
		n += r.Attempts + r.NoThetas
	}
	return n
}

func describeWindow(w LiveWindow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s:", time.UnixMilli(w.Start).UTC().Format(time.RFC3339), w.Version)
	for _, r := range w.Rows {
		fmt.Fprintf(&b, " %s attempts=%d no_thetas=%d ll=%.9f", r.Exercise, r.Attempts, r.NoThetas, deref(r.LogLikelihood))
	}
	return b.String()
}

// liveModelDir writes a version with thetas for addition only, that weigh
// the ExerciseState, so that the order attempts are applied in shows.
func liveModelDir(t *testing.T) (string, *predict.Model) {
	dir := t.TempDir()
	th := make([]float64, features.NumFeatures)
	for i := range th {
		th[i] = float64(i%5-2) / 4
	}
	thetas := []model.ExerciseThetas{{Version: "v1", Exercise: "addition", Thetas: th}}
	b, err := json.Marshal(thetas[0])
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{model.ThetasFile: append(b, '\n'), model.ComponentsFile: nil} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := predict.New("v1", thetas, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dir, m
}

type liveEvent struct {
	id       string
	user     string
	minute   int
	exercise string
	number   int
	correct  bool
}

func (e liveEvent) log() features.ProblemLog {
	return features.ProblemLog{User: e.user, TimeDone: time.Date(2014, 1, 1, 0, e.minute, 0, 0, time.UTC),
		Exercise: e.exercise, ProblemType: "p", ProblemNumber: e.number, Correct: e.correct}
}

func (e liveEvent) message() string {
	l := e.log()
	return fmt.Sprintf(`%s|{"user":%q,"time_done":%q,"exercise":%q,"problem_type":"p","problem_number":%d,"correct":%t}`,
		e.id, l.User, l.TimeDone.Format(time.RFC3339), l.Exercise, l.ProblemNumber, l.Correct)
}

func (e liveEvent) ms() int64 { return e.log().TimeDone.UnixMilli() }

// wantWindow scores each student's attempts in the order given, as the
// stream must apply them, and describes one window's metrics of those in
// it.
func wantWindow(m *predict.Model, start time.Time, applied map[string][]liveEvent) string {
	acc := evaluate.NewAccumulator()
	for _, events := range applied {
		st := score.NewStudent(m)
		for _, e := range events {
			l := e.log()
			p := st.Score(l)[0]
			if !l.TimeDone.Before(start) && l.TimeDone.Before(start.Add(time.Hour)) {
				if err := acc.Add(evaluate.Attempt{Exercise: l.Exercise, Correct: l.Correct, P: p.P, HasP: p.OK}); err != nil {
					panic(err)
				}
			}
			st.Apply(l)
		}
	}
	w := LiveWindow{Start: start.UnixMilli(), Version: m.Version}
	w.Rows = monitor.DayRows(windowLabel(start, start.Add(time.Hour)), acc.Report())
	return describeWindow(w)
}

// TestScoreLive streams attempts through ParseMessages, ScoreLive and
// WatchWindows with a TestStream: attempts out of order within a batch, a
// malformed message, a redelivery before and after its attempt is
// applied, an attempt behind the watermark but after the student's
// latest, and one older than the student's latest, within the horizon.
// Each window's last firing must hold the metrics of the attempts in it,
// scored in the order the stream applies them.
func TestScoreLive(t *testing.T) {
	streaming(t)
	dir, m := liveModelDir(t)
	a1 := liveEvent{"a1", "ada", 10, "addition", 2, true}
	a2 := liveEvent{"a2", "ada", 5, "addition", 1, false}
	a3 := liveEvent{"a3", "ada", 20, "addition", 3, true}
	a4 := liveEvent{"a4", "ada", 50, "addition", 4, false}
	a5 := liveEvent{"a5", "ada", 15, "subtraction", 1, true}
	b1 := liveEvent{"b1", "bo", 40, "addition", 1, true}
	b2 := liveEvent{"b2", "bo", 70, "addition", 2, true}

	ts := teststream.NewConfig()
	add := func(events ...liveEvent) {
		for _, e := range events {
			if err := ts.AddElements(e.ms(), e.message()); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(a1, a2, a1)
	if err := ts.AddElements(a1.ms(), `m1|{"user":"ada","time_done":"not a time"}`); err != nil {
		t.Fatal(err)
	}
	ts.AdvanceWatermark(liveEvent{minute: 30}.ms())
	add(a3, b1, b2)
	ts.AdvanceWatermark(liveEvent{minute: 90}.ms())
	add(a4, b1) // a4 is late for its window; b1 a redelivery of an applied attempt
	ts.AdvanceWatermark(liveEvent{minute: 100}.ms())
	add(a5) // older than ada's latest applied attempt, within the horizon
	ts.AdvanceWatermarkToInfinity()

	p, s := beam.NewPipelineWithRoot()
	msgs := beam.ParDo(s, toMessage, teststream.Create(s, ts))
	attempts, dead := ParseMessages(s, msgs)
	scores := ScoreLive(s, attempts, LiveOptions{Model: ModelSource{Dir: dir}, Horizon: time.Hour})
	windows := WatchWindows(s, scores, WindowOptions{Size: time.Hour, AllowedLateness: time.Hour})
	final := beam.ParDo(s, finalPane, beam.GroupByKey(s, beam.ParDo(s, byWindow,
		beam.WindowInto(s, window.NewGlobalWindows(), windows))))

	applied := map[string][]liveEvent{"ada": {a2, a1, a3, a4, a5}, "bo": {b1, b2}}
	passert.Equals(s, final,
		wantWindow(m, time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC), applied),
		wantWindow(m, time.Date(2014, 1, 1, 1, 0, 0, 0, time.UTC), applied))
	passert.Equals(s, beam.ParDo(s, describeDead, dead), "m1")
	ptest.RunAndValidate(t, p)
}

func init() {
	beam.RegisterFunction(describeParityRow)
	beam.RegisterFunction(windowRows)
}

func describeParityRow(r monitor.Row) string {
	return fmt.Sprintf("%s %s attempts=%d no_thetas=%d ll=%.10f auc=%.10f", r.Day, r.Exercise, r.Attempts, r.NoThetas,
		deref(r.LogLikelihood), deref(r.AUC))
}

func windowRows(w LiveWindow, emit func(monitor.Row)) {
	for _, r := range w.Rows {
		emit(r)
	}
}

// TestScoreLiveMatchesMonitoring runs the same logs through batch
// monitoring (ScoreStudents per day, MergeDays) and through the streaming
// path (AttemptsOf, ScoreLive, WatchWindows of a day): every exercise's
// attempts, log-likelihood and AUC per day must agree.
func TestScoreLiveMatchesMonitoring(t *testing.T) {
	streaming(t)
	dir, _ := liveModelDir(t)
	r := rand.New(rand.NewPCG(11, 12))
	var logs []features.ProblemLog
	for u := range 12 {
		user := fmt.Sprintf("u%02d", u)
		next := map[string]int{}
		at := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(3600)) * time.Second)
		for range 150 {
			ex := []string{"addition", "subtraction"}[r.IntN(2)]
			next[ex]++
			logs = append(logs, features.ProblemLog{User: user, TimeDone: at, Exercise: ex,
				ProblemType: fmt.Sprintf("t%d", r.IntN(2)), ProblemNumber: next[ex], Correct: r.IntN(3) > 0})
			at = at.Add(time.Duration(60+r.IntN(1800)) * time.Second)
		}
	}
	r.Shuffle(len(logs), func(i, j int) { logs[i], logs[j] = logs[j], logs[i] })

	p, s := beam.NewPipelineWithRoot()
	batches := beam.ParDo(s, keyByGroup, beam.CreateList(s, logs))
	src := ModelSource{Dir: dir}
	batch := MergeDays(s, ScoreStudents(s, GroupStudents(s, batches), ScoringModel{Source: src},
		ScoreOptions{Bucket: BucketDay}).Partials)
	stream := WatchWindows(s, ScoreLive(s, AttemptsOf(s, batches), LiveOptions{Model: src, Horizon: time.Hour}),
		WindowOptions{Size: 24 * time.Hour})
	streamRows := beam.ParDo(s, windowRows, beam.WindowInto(s, window.NewGlobalWindows(), stream))
	passert.Equals(s, beam.ParDo(s, describeParityRow, streamRows), beam.ParDo(s, describeParityRow, batch))
	passert.Count(s, batch, "batch rows", 4) // two days, two exercises
	ptest.RunAndValidate(t, p)
}

func init() {
	beam.RegisterType(reflect.TypeOf((*switchModelFn)(nil)).Elem())
	beam.RegisterFunction(describeScore)
	beam.RegisterFunction(describeP)
	beam.RegisterFunction(windowVersion)
	beam.RegisterFunction(scoredByV2)
}

// switchModelFn passes messages on, and on the message with id At, makes
// Dir hold version To instead: a new version deployed mid-stream.
type switchModelFn struct {
	Dir, At, To string
	// Summary, if set, is the new version's summary.json.
	Summary string
}

func (fn *switchModelFn) ProcessElement(m Message, emit func(Message)) error {
	if m.ID != fn.At {
		emit(m)
		return nil
	}
	path := filepath.Join(fn.Dir, model.ThetasFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b = []byte(strings.ReplaceAll(string(b), `"version":"v1"`, `"version":"`+fn.To+`"`))
	if fn.Summary != "" {
		if err := os.WriteFile(filepath.Join(fn.Dir, model.SummaryFile), []byte(fn.Summary), 0o644); err != nil {
			return err
		}
	}
	if err := os.WriteFile(path+".new", b, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".new", path)
}

func describeScore(version string, sc LiveScore) string {
	return fmt.Sprintf("%s %s %s %s", version, sc.User, time.UnixMilli(sc.TimeDone).UTC().Format("15:04"), sc.Exercise)
}

// TestScoreLiveSwitchesModel deploys a new version to the model directory
// between two parts of a stream: the attempts applied before the switch
// are scored by v1, those after by v2, each score says which, and the
// windows are kept per version.
func TestScoreLiveSwitchesModel(t *testing.T) {
	streaming(t)
	dir, _ := liveModelDir(t)
	a1 := liveEvent{"a1", "ada", 10, "addition", 1, true}
	a2 := liveEvent{"a2", "ada", 20, "addition", 2, true}
	a3 := liveEvent{"a3", "ada", 40, "addition", 3, false}
	b1 := liveEvent{"b1", "bo", 45, "addition", 1, true}

	ts := teststream.NewConfig()
	for _, e := range []liveEvent{a1, a2} {
		if err := ts.AddElements(e.ms(), e.message()); err != nil {
			t.Fatal(err)
		}
	}
	ts.AdvanceWatermark(liveEvent{minute: 30}.ms())
	if err := ts.AddElements(liveEvent{minute: 31}.ms(), "deploy|{}"); err != nil {
		t.Fatal(err)
	}
	ts.AdvanceWatermark(liveEvent{minute: 32}.ms())
	for _, e := range []liveEvent{a3, b1} {
		if err := ts.AddElements(e.ms(), e.message()); err != nil {
			t.Fatal(err)
		}
	}
	ts.AdvanceWatermarkToInfinity()

	p, s := beam.NewPipelineWithRoot()
	msgs := beam.ParDo(s, &switchModelFn{Dir: dir, At: "deploy", To: "v2"}, beam.ParDo(s, toMessage, teststream.Create(s, ts)))
	attempts, _ := ParseMessages(s, msgs)
	scores := ScoreLive(s, attempts, LiveOptions{Model: ModelSource{Dir: dir}, Poll: time.Nanosecond, Horizon: time.Hour})
	passert.Equals(s, beam.ParDo(s, describeScore, scores),
		"v1 ada 00:10 addition", "v1 ada 00:20 addition", "v2 ada 00:40 addition", "v2 bo 00:45 addition")
	windows := WatchWindows(s, scores, WindowOptions{Size: time.Hour})
	passert.Equals(s, beam.ParDo(s, windowVersion, beam.WindowInto(s, window.NewGlobalWindows(), windows)), "v1", "v2")
	ptest.RunAndValidate(t, p)
}

// TestScoreLiveKeyingChanged deploys, mid-stream, a version whose
// components are keyed by problem type over one keyed by exercise: a
// student's state kept under the first cannot be read under the second
// (features.ErrKeyingChanged), so the student starts again, and the next
// attempt is scored as a newcomer's, not from a KnowledgeState summed
// from the wrong components.
func TestScoreLiveKeyingChanged(t *testing.T) {
	streaming(t)
	dir, m := liveModelDir(t)
	byExercise := `{"version":"v1","exercises_trained":1,"settings":{"component_key":"exercise,correct"}}`
	if err := os.WriteFile(filepath.Join(dir, model.SummaryFile), []byte(byExercise), 0o644); err != nil {
		t.Fatal(err)
	}
	a1 := liveEvent{"a1", "ada", 10, "addition", 1, true}
	a2 := liveEvent{"a2", "ada", 40, "addition", 2, false}
	ts := teststream.NewConfig()
	if err := ts.AddElements(a1.ms(), a1.message()); err != nil {
		t.Fatal(err)
	}
	ts.AdvanceWatermark(liveEvent{minute: 30}.ms())
	if err := ts.AddElements(liveEvent{minute: 31}.ms(), "deploy|{}"); err != nil {
		t.Fatal(err)
	}
	ts.AdvanceWatermark(liveEvent{minute: 32}.ms())
	if err := ts.AddElements(a2.ms(), a2.message()); err != nil {
		t.Fatal(err)
	}
	ts.AdvanceWatermarkToInfinity()

	p, s := beam.NewPipelineWithRoot()
	byType := `{"version":"v2","exercises_trained":1,"settings":{}}`
	msgs := beam.ParDo(s, &switchModelFn{Dir: dir, At: "deploy", To: "v2", Summary: byType}, beam.ParDo(s, toMessage, teststream.Create(s, ts)))
	attempts, _ := ParseMessages(s, msgs)
	scores := ScoreLive(s, attempts, LiveOptions{Model: ModelSource{Dir: dir}, Poll: time.Nanosecond, Horizon: time.Hour})
	v2 := beam.ParDo(s, scoredByV2, scores)
	newcomer, _ := m.NewStudent().PredictAttempt(a2.log())
	passert.Equals(s, beam.ParDo(s, describeP, v2), fmt.Sprintf("ada 00:40 p=%.12f", newcomer))
	ptest.RunAndValidate(t, p)
}

// TestScoreLiveHistory replays a student's attempts from before the stream
// (HistoryOf): they are applied, not scored, and the first streamed attempt
// is scored as the batch replay of the whole history scores it, not as a
// newcomer's.
func TestScoreLiveHistory(t *testing.T) {
	streaming(t)
	dir, m := liveModelDir(t)
	var history []features.ProblemLog
	for i := range 5 {
		history = append(history, liveEvent{"", "ada", i, "addition", i + 1, i%2 == 0}.log())
	}
	next := liveEvent{"n1", "ada", 30, "addition", 6, true}

	st := score.NewStudent(m)
	for _, l := range history {
		st.Apply(l)
	}
	want := st.Score(next.log())[0].P
	newcomer := score.NewStudent(m).Score(next.log())[0].P
	if want == newcomer {
		t.Fatal("the test's model does not tell a returning student from a newcomer")
	}

	p, s := beam.NewPipelineWithRoot()
	streamed := AttemptsOf(s, beam.ParDo(s, keyByGroup, beam.Create(s, next.log())))
	past := HistoryOf(s, beam.ParDo(s, keyByGroup, beam.CreateList(s, history)))
	scores := ScoreLive(s, beam.Flatten(s, past, streamed), LiveOptions{Model: ModelSource{Dir: dir}, Horizon: time.Hour})
	passert.Equals(s, beam.ParDo(s, describeP, scores), fmt.Sprintf("ada 00:30 p=%.12f", want))
	ptest.RunAndValidate(t, p)
}

func describeP(_ string, sc LiveScore) string {
	return fmt.Sprintf("%s %s p=%.12f", sc.User, time.UnixMilli(sc.TimeDone).UTC().Format("15:04"), sc.P)
}

func windowVersion(w LiveWindow) string { return w.Version }

func scoredByV2(version string, sc LiveScore, emit func(string, LiveScore)) {
	if version == "v2" {
		emit(version, sc)
	}
}
