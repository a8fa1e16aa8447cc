package transforms

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/monitor"
	"github.com/kmtrain/knowledgemodel/trainer"
)

// The small pipelines below give each composite a few elements through
// beam.Create and check what comes out with passert, as Beam's examples
// do; the whole pipeline's tests are in package pipeline.

func init() {
	beam.RegisterFunction(keyByGroup)
	beam.RegisterFunction(rowCount)
	beam.RegisterFunction(describeCount)
	beam.RegisterFunction(describeLogBatch)
	beam.RegisterFunction(countStats)
	beam.RegisterFunction(describePartial)
	beam.RegisterFunction(describeRow)
	beam.RegisterFunction(countScored)
	beam.RegisterFunction(describeComponent)
}

// keyByGroup keys a log as the sources do.
func keyByGroup(l features.ProblemLog) (string, LogBatch) {
	return StudentGroup(l.User), LogBatch{Logs: []features.ProblemLog{l}}
}

func rowCount(exercise string, b trainer.RowBatch) (string, int) { return exercise, b.Len() }

func describeCount(exercise string, n int) string { return fmt.Sprintf("%s: %d rows", exercise, n) }

// rowsPerExercise counts the rows of each exercise, whatever the batches
// (which worker replays a student changes how rows fall into them).
func rowsPerExercise(s beam.Scope, rows beam.PCollection) beam.PCollection {
	return beam.ParDo(s, describeCount, stats.SumPerKey(s, beam.ParDo(s, rowCount, rows)))
}

func describeLogBatch(user string, b LogBatch) string {
	days := make([]string, len(b.Logs))
	for i, l := range b.Logs {
		days[i] = fmt.Sprintf("%s#%d", l.Exercise, l.ProblemNumber)
	}
	sort.Strings(days)
	return fmt.Sprintf("%s: %v", user, days)
}

func countStats(st Stats, emit func(string)) {
	for _, name := range []string{CountStudentsKept, CountStudentsDropped, CountStudentsHeldOut, CountRows} {
		if n := st.Counts[name]; n > 0 {
			emit(fmt.Sprintf("%s=%d", name, n))
		}
	}
}

// describePartial is the new version's log-likelihood, rounded, and how
// many attempts an evaluation partial scored.
func describePartial(bucket string, p EvalPartial) string {
	r := p.Acc.Report()
	ll := math.NaN()
	if r.Overall.LogLikelihood != nil {
		ll = *r.Overall.LogLikelihood
	}
	return fmt.Sprintf("%q: attempts=%d ll=%.4f", bucket, r.Overall.Attempts, ll)
}

func minute(m int) time.Time { return time.Date(2014, 1, 1, 0, m, 0, 0, time.UTC) }

// threeStudents are the logs of three students: ada and bob step by one,
// cy skips problem 2.
var threeStudents = []features.ProblemLog{
	{User: "ada", TimeDone: minute(1), Exercise: "addition", ProblemType: "p", ProblemNumber: 1, Correct: true},
	{User: "ada", TimeDone: minute(2), Exercise: "addition", ProblemType: "p", ProblemNumber: 2},
	{User: "ada", TimeDone: minute(3), Exercise: "subtraction", ProblemType: "q", ProblemNumber: 1, Correct: true},
	{User: "bob", TimeDone: minute(1), Exercise: "addition", ProblemType: "p", ProblemNumber: 1},
	{User: "cy", TimeDone: minute(1), Exercise: "addition", ProblemType: "p", ProblemNumber: 1},
	{User: "cy", TimeDone: minute(2), Exercise: "addition", ProblemType: "p", ProblemNumber: 3},
}

func TestReplayStudents(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	logs := beam.ParDo(s, keyByGroup, beam.CreateList(s, threeStudents))
	r := ReplayStudents(s, logs, ReplayOptions{Window: features.AllProblems})
	passert.Equals(s, rowsPerExercise(s, r.Rows), "addition: 3 rows", "subtraction: 1 rows")
	passert.Equals(s, beam.ParDo(s, countStats, MergeStats(s, r.Stats)), "students_kept=2", "students_dropped=1", "rows_emitted=4")
	passert.Count(s, r.NewComponents, "new components", 3) // ada's two, bob's; cy is dropped
	passert.Empty(s, r.HeldOut)
	ptest.RunAndValidate(t, p)
}

func TestReplayStudentsHoldout(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	logs := beam.ParDo(s, keyByGroup, beam.CreateList(s, threeStudents))
	// From minute 2 on, every student's attempts are held out; ada's and
	// cy's histories before them are trained on.
	r := ReplayStudents(s, logs, ReplayOptions{Window: features.AllProblems, KeepGaps: true, Holdout: Holdout{After: minute(2)}})
	passert.Equals(s, rowsPerExercise(s, r.Rows), "addition: 3 rows")
	passert.Equals(s, beam.ParDo(s, describeLogBatch, r.HeldOut),
		"ada: [addition#1 addition#2 subtraction#1]", "cy: [addition#1 addition#3]")
	ptest.RunAndValidate(t, p)
}

func TestGroupStudents(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	students := GroupStudents(s, beam.ParDo(s, keyByGroup, beam.CreateList(s, threeStudents)))
	passert.Equals(s, beam.ParDo(s, describeLogBatch, students),
		"ada: [addition#1 addition#2 subtraction#1]", "bob: [addition#1]", "cy: [addition#1 addition#3]")
	ptest.RunAndValidate(t, p)
}

// TestScoreStudents scores the three students with a model whose only
// theta is a bias of 0 on addition: every attempt at addition is P=0.5,
// subtraction has no thetas.
func TestScoreStudents(t *testing.T) {
	th := make([]float64, features.NumFeatures)
	thetas := []model.ExerciseThetas{{Version: "v1", Exercise: "addition", Thetas: th, CorrectRate: 0.5}}
	p, s := beam.NewPipelineWithRoot()
	students := GroupStudents(s, beam.ParDo(s, keyByGroup, beam.CreateList(s, threeStudents)))
	sc := ScoreStudents(s, students, ScoringModel{Thetas: beam.CreateList(s, thetas)}, ScoreOptions{Baselines: true})
	merged := beam.ParDo(s, describePartial, MergeEvaluations(s, sc.Partials))
	passert.Equals(s, merged, fmt.Sprintf(`"": attempts=5 ll=%.4f`, math.Log(0.5)))
	passert.Equals(s, beam.ParDo(s, countScored, MergeStats(s, sc.Stats)), "students=3 scored=5 no_thetas=1 version=v1")
	ptest.RunAndValidate(t, p)
}

func countScored(st Stats) string {
	return fmt.Sprintf("students=%d scored=%d no_thetas=%d version=%s", st.Counts[CountStudentsMonitored],
		st.Counts[CountAttemptsScored], st.Counts[CountAttemptsNoThetas], strings.Join(st.Examples[ExampleModelVersion], ","))
}

func describeRow(r monitor.Row) string {
	ll := math.NaN()
	if r.LogLikelihood != nil {
		ll = *r.LogLikelihood
	}
	return fmt.Sprintf("%s %s attempts=%d no_thetas=%d ll=%.4f", r.Day, r.Exercise, r.Attempts, r.NoThetas, ll)
}

// TestScoreStudentsMergeDays monitors the three students with a model
// directory whose only thetas, all 0, are addition's: every attempt at
// addition scores P=0.5, whole students (cy's gap too), and subtraction is
// counted as without thetas.
func TestScoreStudentsMergeDays(t *testing.T) {
	dir := t.TempDir()
	th, err := json.Marshal(model.ExerciseThetas{Version: "v1", Exercise: "addition", Thetas: make([]float64, features.NumFeatures)})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{model.ThetasFile: append(th, '\n'), model.ComponentsFile: nil} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, s := beam.NewPipelineWithRoot()
	students := GroupStudents(s, beam.ParDo(s, keyByGroup, beam.CreateList(s, threeStudents)))
	sc := ScoreStudents(s, students, ScoringModel{Source: ModelSource{Dir: dir}}, ScoreOptions{Bucket: BucketDay})
	passert.Equals(s, beam.ParDo(s, describeRow, MergeDays(s, sc.Partials)),
		fmt.Sprintf("2014-01-01 addition attempts=5 no_thetas=0 ll=%.4f", math.Log(0.5)),
		"2014-01-01 subtraction attempts=0 no_thetas=1 ll=NaN")
	ptest.RunAndValidate(t, p)
}

func describeComponent(c features.Component) string {
	return fmt.Sprintf("%s %d", c.ComponentKey, len(c.Vector))
}

// TestReadComponents reads a components table from a file, and none from
// an empty source.
func TestReadComponents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "components.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := []features.ComponentKey{{Exercise: "addition", ProblemType: "p", Correct: true}, {Exercise: "subtraction", ProblemType: "q"}}
	if err := features.WriteComponentsJSONL(f, []features.Component{features.DeriveComponent(keys[0]), features.DeriveComponent(keys[1])}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	passert.Equals(s, beam.ParDo(s, describeComponent, ReadComponents(s, ComponentsSource{Path: path})),
		fmt.Sprintf("%s %d", keys[0], features.KnowledgeDim), fmt.Sprintf("%s %d", keys[1], features.KnowledgeDim))
	passert.Empty(s, ReadComponents(s.Scope("none"), ComponentsSource{}))
	ptest.RunAndValidate(t, p)
}
