package modelops

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/model"
)

// List writes one line per version, newest first, in aligned columns: id,
// status, created, input, and the held-out mean log-likelihood and AUC.
func List(ctx context.Context, src Source, w io.Writer) error {
	vs, err := src.Versions(ctx)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		fmt.Fprintf(w, "no versions in %s\n", src)
		return nil
	}
	sortNewest(vs)
	_, dirs := src.(Dirs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := "VERSION\tSTATUS\tCREATED\tINPUT\tHELD-OUT LL\tAUC"
	if dirs {
		header += "\tDIRECTORY"
	}
	fmt.Fprintln(tw, header)
	for _, v := range vs {
		var ll, auc *float64
		if e := v.Summary.Evaluation; e != nil {
			ll, auc = e.Overall.LogLikelihood, e.Overall.AUC
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", v.ID, status(v), when(v.Summary.Created), shorten(v.Summary.Input, 40),
			num(ll, 5), num(auc, 4))
		if dirs {
			line += "\t" + v.Path
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// status is a version's status for List: "-" in a directory.
func status(v Version) string {
	if v.Path != "" {
		return "-"
	}
	return v.Status
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func num(p *float64, digits int) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.*f", digits, *p)
}

// shorten cuts s to n runes, marking the cut.
func shorten(s string, n int) string {
	if s == "" {
		return "-"
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

// Show writes a version's record: what it was trained on and from, its
// counts, held-out evaluation, gate and status history.
func Show(ctx context.Context, src Source, id string, w io.Writer) error {
	v, err := src.Version(ctx, id)
	if err != nil {
		return err
	}
	s := v.Summary
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	row("version", "%s", v.ID)
	switch {
	case v.Path != "":
		row("directory", "%s (a directory has no status: kmtrain --output neither gates nor promotes)", v.Path)
	case v.Current != nil:
		row("status", "current since %s, replacing %s", when(v.Current.Switched), orNone(v.Current.Previous))
	case v.Status == "rejected":
		row("status", "rejected %s: %s", when(v.Rejected), v.Reason)
	default:
		row("status", "%s", v.Status)
	}
	row("created", "%s", when(s.Created))
	if !v.Written.IsZero() {
		row("written", "%s", when(v.Written))
	}
	if !v.Promoted.IsZero() {
		row("last promoted", "%s", when(v.Promoted))
	}
	row("input", "%s", dash(s.Input))
	row("settings", "%s", settings(s.Settings))
	if s.SourceRows > 0 {
		row("logs", "%d read of %d rows; %d bad%s", s.LogsRead, s.SourceRows, s.BadRows, reasons(s.BadRowReasons))
	} else {
		row("logs", "%d read from %d files; %d bad%s", s.LogsRead, s.FilesRead, s.BadRows, reasons(s.BadRowReasons))
	}
	row("students", "%d kept, %d dropped (%d logs), %d held out (%d logs)", s.StudentsKept, s.StudentsDropped, s.LogsDropped,
		s.StudentsHeldOut, s.LogsHeldOut)
	row("rows", "%d emitted, %d trained", s.RowsEmitted, s.RowsTrained)
	row("components", "%d reused, %d new", s.ComponentsReused, s.ComponentsNew)
	row("exercises", "%d trained (%d converged), %d skipped%s", s.ExercisesTrained, s.ExercisesConverged, s.ExercisesSkipped,
		reasons(s.SkipReasons))
	if e := s.Evaluation; e != nil {
		row("held out", "%s", dash(s.Holdout))
		row("evaluation", "%d attempts (%d without thetas): %s", e.Overall.Attempts, e.NoThetas.Attempts, metrics(e.Overall))
		for _, name := range slices.Sorted(maps.Keys(e.Baselines)) {
			row("  baseline", "%s: %s", name, metrics(e.Baselines[name].Overall))
		}
	} else {
		row("evaluation", "none (nothing was held out)")
	}
	if g := s.Gate; g != nil {
		verdict := "passed"
		switch {
		case g.Forced:
			verdict = "failed, forced"
		case !g.Passed:
			verdict = "failed"
		}
		row("gate", "%s against %s: %s", verdict, orNone(g.CurrentVersion), g.Reason)
	} else {
		row("gate", "none recorded")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.Path != "" {
		return nil
	}
	if len(v.History) == 0 {
		fmt.Fprintln(w, "history\tnone recorded")
		return nil
	}
	fmt.Fprintln(w, "history")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range v.History {
		change := c.From + " -> " + c.To
		switch {
		case c.From == "":
			change = "new -> " + c.To
		case c.From == c.To:
			change = "stays " + c.To
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", when(c.Time), change, dash(c.By), dash(c.Why))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNone(version string) string {
	if version == "" {
		return "none"
	}
	return version
}

func settings(s model.Settings) string {
	parts := []string{"features " + cmp.Or(s.Features, "khan2014"), "problem numbers " + dash(s.ProblemNumbers)}
	if s.ComponentKey != "" {
		parts = append(parts, "component key "+s.ComponentKey)
	}
	l2 := fmt.Sprint(s.L2)
	if s.L2Auto {
		l2 = "auto"
	}
	parts = append(parts, "l2 "+l2, fmt.Sprintf("rows %d-%d", s.MinRows, s.MaxRows), fmt.Sprintf("max iterations %d", s.MaxIterations))
	return strings.Join(parts, ", ")
}

func reasons[V int | int64](m map[string]V) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func metrics(m evaluate.Metrics) string {
	return fmt.Sprintf("log-likelihood %s, AUC %s, accuracy %s", num(m.LogLikelihood, 5), num(m.AUC, 4), num(m.Accuracy, 4))
}

// Diff writes how version b differs from a: the held-out headline of each,
// then per exercise the change of the thetas (L2 distance and largest
// absolute change) and of the held-out log-likelihood and AUC where both
// evaluated it, largest change first, and the exercises only one has.
func Diff(ctx context.Context, src Source, a, b string, w io.Writer) error {
	va, err := src.Version(ctx, a)
	if err != nil {
		return err
	}
	vb, err := src.Version(ctx, b)
	if err != nil {
		return err
	}
	ta, err := src.Thetas(ctx, va)
	if err != nil {
		return err
	}
	tb, err := src.Thetas(ctx, vb)
	if err != nil {
		return err
	}
	d := diff(va, vb, ta, tb)

	fmt.Fprintf(w, "A %s\nB %s\n\n", describe(va), describe(vb))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tA\tB\tB-A\t")
	ea, eb := va.Summary.Evaluation, vb.Summary.Evaluation
	fmt.Fprintf(tw, "exercises\t%d\t%d\t%+d\t\n", len(ta), len(tb), len(tb)-len(ta))
	if ea != nil || eb != nil {
		var oa, ob evaluate.Metrics
		if ea != nil {
			oa = ea.Overall
		}
		if eb != nil {
			ob = eb.Overall
		}
		fmt.Fprintf(tw, "held-out attempts\t%d\t%d\t%+d\t\n", oa.Attempts, ob.Attempts, ob.Attempts-oa.Attempts)
		fmt.Fprintf(tw, "held-out log-likelihood\t%s\t%s\t%s\t\n", num(oa.LogLikelihood, 5), num(ob.LogLikelihood, 5), delta(oa.LogLikelihood, ob.LogLikelihood, 5))
		fmt.Fprintf(tw, "held-out AUC\t%s\t%s\t%s\t\n", num(oa.AUC, 4), num(ob.AUC, 4), delta(oa.AUC, ob.AUC, 4))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if ea != nil && eb != nil {
		fmt.Fprintln(w, "(each version's evaluation is on its own held-out attempts, which differ between runs)")
	}
	fmt.Fprintln(w)
	if len(d.both) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "EXERCISE\tTHETAS L2\tMAX |CHANGE|\tLL A\tLL B\tLL B-A\tAUC A\tAUC B\tAUC B-A")
		for _, e := range d.both {
			l2, maxAbs := fmt.Sprintf("%.4f", e.l2), fmt.Sprintf("%.4f", e.maxAbs)
			if e.dims != "" {
				l2, maxAbs = e.dims, "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.exercise, l2, maxAbs,
				num(e.llA, 5), num(e.llB, 5), delta(e.llA, e.llB, 5), num(e.aucA, 4), num(e.aucB, 4), delta(e.aucA, e.aucB, 4))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "only in A (%d): %s\n", len(d.onlyA), list(d.onlyA))
	fmt.Fprintf(w, "only in B (%d): %s\n", len(d.onlyB), list(d.onlyB))
	return nil
}

func describe(v Version) string {
	s := v.ID
	if v.Path != "" {
		s += " (" + v.Path + ")"
	} else if v.Status != "" {
		s += " (" + v.Status + ")"
	}
	return s + ", created " + when(v.Summary.Created) + ", from " + dash(v.Summary.Input)
}

func delta(a, b *float64, digits int) string {
	if a == nil || b == nil {
		return "-"
	}
	return fmt.Sprintf("%+.*f", digits, *b-*a)
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

// exerciseDiff is one exercise both versions trained.
type exerciseDiff struct {
	exercise      string
	l2, maxAbs    float64
	dims          string // "107 vs 116 thetas" when the feature sets differ
	llA, llB      *float64
	aucA, aucB    *float64
	heldOutChange float64 // |LL B-A|, to order exercises of equal thetas
}

type versionDiff struct {
	both         []exerciseDiff // largest thetas change first
	onlyA, onlyB []string
}

func diff(va, vb Version, ta, tb []model.ExerciseThetas) versionDiff {
	held := func(v Version) map[string]evaluate.Metrics {
		m := map[string]evaluate.Metrics{}
		if e := v.Summary.Evaluation; e != nil {
			for _, x := range e.Exercises {
				m[x.Exercise] = x.Metrics
			}
		}
		return m
	}
	ha, hb := held(va), held(vb)
	byB := make(map[string]model.ExerciseThetas, len(tb))
	for _, t := range tb {
		byB[t.Exercise] = t
	}
	var d versionDiff
	inA := map[string]bool{}
	for _, x := range ta {
		inA[x.Exercise] = true
		y, ok := byB[x.Exercise]
		if !ok {
			d.onlyA = append(d.onlyA, x.Exercise)
			continue
		}
		e := exerciseDiff{exercise: x.Exercise}
		if len(x.Thetas) != len(y.Thetas) {
			e.dims = fmt.Sprintf("%d vs %d thetas", len(x.Thetas), len(y.Thetas))
			e.l2 = math.Inf(1)
		} else {
			var sum float64
			for i := range x.Thetas {
				c := math.Abs(y.Thetas[i] - x.Thetas[i])
				sum += c * c
				e.maxAbs = max(e.maxAbs, c)
			}
			e.l2 = math.Sqrt(sum)
		}
		if m, ok := ha[x.Exercise]; ok {
			e.llA, e.aucA = m.LogLikelihood, m.AUC
		}
		if m, ok := hb[x.Exercise]; ok {
			e.llB, e.aucB = m.LogLikelihood, m.AUC
		}
		if e.llA != nil && e.llB != nil {
			e.heldOutChange = math.Abs(*e.llB - *e.llA)
		}
		d.both = append(d.both, e)
	}
	for _, y := range tb {
		if !inA[y.Exercise] {
			d.onlyB = append(d.onlyB, y.Exercise)
		}
	}
	sort.SliceStable(d.both, func(i, j int) bool {
		a, b := d.both[i], d.both[j]
		if a.l2 != b.l2 {
			return a.l2 > b.l2
		}
		if a.heldOutChange != b.heldOutChange {
			return a.heldOutChange > b.heldOutChange
		}
		return a.exercise < b.exercise
	})
	return d
}
