package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dashboard ranking and size limits.
const (
	// RecentDays is the length of the recent period the dashboard compares
	// with the days before it.
	RecentDays = 7
	// MinAttemptsToRank is how many attempts an exercise needs in each
	// period for its drop to be ranked; below it the drop is shown but
	// the exercise comes after the ranked ones.
	MinAttemptsToRank = 20
	// DashboardCharts is how many exercises get a chart.
	DashboardCharts = 50
)

// WriteDashboard writes the monitoring dashboard as one self-contained HTML
// page. Each point's Day must be YYYY-MM-DD (or, with a Period shorter
// than a day, the period's start in RFC 3339; "day" below is then the
// Period); points without attempts or with a NaN log-likelihood are no
// data.
//
// The page opens with the ranking of the exercises whose log-likelihood
// dropped most. The recent period is the RecentDays days that end on the
// last day with data of any exercise; the previous period is every day
// before it. An exercise's log-likelihood over a period is the
// attempt-weighted mean of its daily means (its total log-likelihood over
// its attempts), and its drop is previous - recent: positive when it got
// worse. Exercises with at least MinAttemptsToRank attempts in both periods
// are ranked by drop, largest first; the others follow by attempts.
//
// Then the first DashboardCharts exercises of the ranking with data get a
// chart each (data-chart="exercise-day"): the daily mean log-likelihood as
// a line with points (left axis), the attempts as grey bars (right axis),
// and the recent period shaded. The page says how many exercises have no
// chart. For 2,000 exercises over 90 days the page is about 1.5 MB.
//
// A dashboard without attempts says so instead of drawing empty charts. The
// error is a malformed day or the writer's.
func WriteDashboard(w io.Writer, d Dashboard) error {
	v, err := newDashView(d)
	if err != nil {
		return err
	}
	return dashPage.Execute(w, v)
}

var dashPage = parse("dashboard", `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
{{template "style"}}</head>
<body>
<h1>{{.Title}}</h1>
<p class="meta">{{with .Model}}Model <b>{{.}}</b>{{end}}{{with .Window}} · {{.}}{{end}}{{with .Created}} · created {{.}}{{end}}</p>
{{if .Empty}}<p class="empty">No attempts in this window: there is nothing to chart.</p>
{{else}}<p class="note">{{count .Attempts}} attempts on {{len .Rows}} exercises, {{.First}} to {{.Last}}. Recent: {{.RecentFrom}} to {{.Last}} ({{.RecentDays}} {{.Unit}}); previous: the {{.Unit}} before.
Log-likelihoods are attempt-weighted means per attempt; the drop is previous − recent, positive when the model got worse.
Exercises with fewer than {{.MinAttempts}} attempts in either period come after the ranked ones.</p>
<h2>Largest drops</h2>
<table class="ranking">
<tr><th>#</th><th class="name">exercise</th><th>previous LL</th><th>recent LL</th><th>drop</th><th>previous attempts</th><th>recent attempts</th></tr>
{{range .Rows}}<tr><td>{{if .Ranked}}{{.Rank}}{{end}}</td><td class="name">{{if .Anchor}}<a href="#{{.Anchor}}">{{.Exercise}}</a>{{else}}{{.Exercise}}{{end}}</td><td>{{ll .Prev}}</td><td>{{ll .Recent}}</td><td class="{{.Class}}">{{signed .Drop}}</td><td>{{count .PrevAttempts}}</td><td>{{count .RecentAttempts}}</td></tr>
{{end}}</table>
{{template "csv" .RankingCSV}}
<h2>Log-likelihood per day</h2>
{{if .NotShown}}<p class="note">The first {{len .Charts}} exercises of the ranking are charted; {{.NotShown}} more with attempts are not shown.</p>{{end}}
<div class="charts">
{{range .Charts}}<div class="card" id="{{.Anchor}}"><h3>{{.Exercise}}</h3>
<p class="meta">drop {{signed .Drop}} · {{count .Attempts}} attempts</p>
{{template "chart" .Chart}}</div>
{{end}}</div>
{{end}}
</body></html>
`)

type dashView struct {
	Title, Model, Window, Created string
	Empty                         bool
	Attempts                      int64
	First, Last, RecentFrom       string
	RecentDays, MinAttempts       int
	Unit                          string // "days", or the periods' name
	Rows                          []dashRow
	Charts                        []dashChart
	NotShown                      int
	RankingCSV                    *csvLink // the ranking table's data
}

type dashRow struct {
	Rank                         int
	Ranked                       bool
	Exercise, Anchor, Class      string
	Prev, Recent, Drop           float64
	PrevAttempts, RecentAttempts int64
	series                       int // index in the dashboard's series
}

type dashChart struct {
	Anchor, Exercise string
	Drop             float64
	Attempts         int64
	Chart            *svgChart
}

// day is one day of data of an exercise: attempts and the sum of their
// log-likelihoods.
type day struct {
	index    int // periods since the first of the dashboard
	attempts int64
	llSum    float64
	aucSum   float64 // attempt-weighted
	aucN     int64
}

const dayLayout = "2006-01-02"

// periods numbers and names the periods of a dashboard: days, or a
// stream's shorter windows, counted from the first with data.
type periods struct {
	d            time.Duration
	first        time.Time
	layout, want string // of a point's Day, and its description
	unit, one    string // the periods' name, plural and singular
	nameLayout   string
	tickLayout   string
}

func newPeriods(d time.Duration) periods {
	if d <= 0 {
		d = 24 * time.Hour
	}
	p := periods{d: d, layout: time.RFC3339, want: "an RFC 3339 time", unit: "windows of " + d.String(),
		one: "window of " + d.String(), nameLayout: "2006-01-02 15:04:05", tickLayout: "15:04:05"}
	if d%(24*time.Hour) == 0 {
		p.layout, p.want, p.nameLayout, p.tickLayout = dayLayout, "YYYY-MM-DD", dayLayout, "Jan 2"
	}
	if d == 24*time.Hour {
		p.unit, p.one = "days", "day"
	}
	return p
}

// index is the number of the period that starts at t.
func (p periods) index(t time.Time) int {
	return int(math.Round(float64(t.Sub(p.first)) / float64(p.d)))
}

func (p periods) start(i int) time.Time { return p.first.Add(time.Duration(i) * p.d).UTC() }

func (p periods) name(i int) string { return p.start(i).Format(p.nameLayout) }

func (p periods) tick(i int) string { return p.start(i).Format(p.tickLayout) }

func newDashView(d Dashboard) (dashView, error) {
	v := dashView{
		Title: cmp.Or(d.Title, "Knowledge model monitoring"), Model: d.Model, Window: d.Window, Created: d.Created,
		RecentDays: RecentDays, MinAttempts: MinAttemptsToRank,
	}
	per := newPeriods(d.Period)
	v.Unit = per.unit
	points, first, last, err := parsePoints(d.Series, per)
	if err != nil {
		return v, err
	}
	if first.IsZero() {
		v.Empty = true
		return v, nil
	}
	per.first = first
	span := per.index(last)
	recentFrom := max(0, span-RecentDays+1)
	v.First, v.Last = per.name(0), per.name(span)
	v.RecentFrom = per.name(recentFrom)

	days := make([][]day, len(d.Series))
	for i, s := range d.Series {
		days[i] = dayTotals(points[i], per)
		row := compareRecent(s.Exercise, days[i], recentFrom)
		row.series = i
		v.Attempts += row.PrevAttempts + row.RecentAttempts
		v.Rows = append(v.Rows, row)
	}
	rankRows(v.Rows)
	for i := range v.Rows {
		r := &v.Rows[i]
		if r.PrevAttempts+r.RecentAttempts == 0 {
			continue
		}
		if len(v.Charts) >= DashboardCharts {
			v.NotShown++
			continue
		}
		r.Anchor = fmt.Sprintf("ex-%d", len(v.Charts)+1)
		v.Charts = append(v.Charts, dashChart{
			Anchor: r.Anchor, Exercise: r.Exercise, Drop: r.Drop, Attempts: r.PrevAttempts + r.RecentAttempts,
			Chart: dayChart(r.Exercise, days[r.series], per, span, recentFrom),
		})
		if c := v.Charts[len(v.Charts)-1].Chart; c != nil {
			c.CSV = daysCSV(r.Exercise, len(v.Charts), days[r.series], per)
		}
	}
	var rows [][]string
	for _, r := range v.Rows {
		rank := ""
		if r.Ranked {
			rank = strconv.Itoa(r.Rank)
		}
		rows = append(rows, []string{rank, r.Exercise, csvNum(r.Prev), csvNum(r.Recent), csvNum(r.Drop), csvInt(r.PrevAttempts), csvInt(r.RecentAttempts)})
	}
	v.RankingCSV = newCSVLink("ranking", "ranking.csv",
		[]string{"rank", "exercise", "previous_log_likelihood", "recent_log_likelihood", "drop", "previous_attempts", "recent_attempts"}, rows)
	return v, nil
}

// daysCSV is one exercise's chart's data: per period with attempts, their
// number, mean log-likelihood and attempt-weighted AUC.
func daysCSV(exercise string, n int, days []day, per periods) *csvLink {
	var rows [][]string
	for _, d := range days {
		auc := math.NaN()
		if d.aucN > 0 {
			auc = d.aucSum / float64(d.aucN)
		}
		rows = append(rows, []string{exercise, per.start(d.index).Format(time.RFC3339), csvInt(d.attempts), csvNum(d.llSum / float64(d.attempts)), csvNum(auc)})
	}
	return newCSVLink("exercise-day", fmt.Sprintf("exercise-%d.csv", n), []string{"exercise", "period_start", "attempts", "log_likelihood", "auc"}, rows)
}

// point is a day of a series with data, its day parsed.
type point struct {
	t time.Time
	p DayPoint
}

// parsePoints parses the days of every series once, keeping those with
// scored attempts, and returns the first and last day with data (zero if
// none has any).
func parsePoints(series []ExerciseSeries, per periods) (points [][]point, first, last time.Time, err error) {
	points = make([][]point, len(series))
	for i, s := range series {
		for _, p := range s.Points {
			t, err := time.Parse(per.layout, p.Day)
			if err != nil {
				return nil, first, last, fmt.Errorf("report: exercise %q: day %q is not %s", s.Exercise, p.Day, per.want)
			}
			if p.Attempts <= 0 || !finite(p.LogLikelihood) {
				continue
			}
			points[i] = append(points[i], point{t, p})
			if first.IsZero() || t.Before(first) {
				first = t
			}
			if t.After(last) {
				last = t
			}
		}
	}
	return points, first, last, nil
}

// dayTotals sums a series' points per period (counted from the first), in
// order.
func dayTotals(points []point, per periods) []day {
	byIndex := map[int]*day{}
	for _, q := range points {
		idx := per.index(q.t)
		dd := byIndex[idx]
		if dd == nil {
			dd = &day{index: idx}
			byIndex[idx] = dd
		}
		n := q.p.Attempts
		dd.attempts += n
		dd.llSum += float64(n) * q.p.LogLikelihood
		if finite(q.p.AUC) {
			dd.aucSum += float64(n) * q.p.AUC
			dd.aucN += n
		}
	}
	days := make([]day, 0, len(byIndex))
	for _, dd := range byIndex {
		days = append(days, *dd)
	}
	slices.SortFunc(days, func(a, b day) int { return cmp.Compare(a.index, b.index) })
	return days
}

// compareRecent is an exercise's row: its mean log-likelihood over the
// recent days (from day recentFrom on) against the days before.
func compareRecent(exercise string, days []day, recentFrom int) dashRow {
	row := dashRow{Exercise: exercise}
	var prevLL, recentLL float64
	for _, dd := range days {
		if dd.index >= recentFrom {
			row.RecentAttempts += dd.attempts
			recentLL += dd.llSum
		} else {
			row.PrevAttempts += dd.attempts
			prevLL += dd.llSum
		}
	}
	row.Prev, row.Recent = meanOrNaN(prevLL, row.PrevAttempts), meanOrNaN(recentLL, row.RecentAttempts)
	row.Drop = row.Prev - row.Recent
	row.Ranked = finite(row.Drop) && row.PrevAttempts >= MinAttemptsToRank && row.RecentAttempts >= MinAttemptsToRank
	if finite(row.Drop) && row.Drop > 0 {
		row.Class = "neg"
	}
	return row
}

// rankRows orders the rows, the ranked ones first by the largest drop,
// the rest by attempts, and numbers the ranked ones.
func rankRows(rows []dashRow) {
	slices.SortStableFunc(rows, func(a, b dashRow) int {
		if a.Ranked != b.Ranked {
			if a.Ranked {
				return -1
			}
			return 1
		}
		if a.Ranked {
			if c := cmp.Compare(b.Drop, a.Drop); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(b.PrevAttempts+b.RecentAttempts, a.PrevAttempts+a.RecentAttempts), strings.Compare(a.Exercise, b.Exercise))
	})
	rank := 0
	for i := range rows {
		if rows[i].Ranked {
			rank++
			rows[i].Rank = rank
		}
	}
}

func meanOrNaN(sum float64, n int64) float64 {
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// dayChart draws one exercise's days: the mean log-likelihood per day as a
// line with points on the left axis, the attempts as bars on the right
// axis, the recent period (days recentFrom..span) shaded. Every chart of a
// dashboard spans the same days, 0..span after first.
func dayChart(exercise string, days []day, per periods, span, recentFrom int) *svgChart {
	p := plot{W: 440, H: 180, Left: 50, Right: 46, Top: 10, Bottom: 34}
	// Day i is drawn at i, its bar from i-0.4 to i+0.4.
	xs := newLinear(-0.5, float64(span)+0.5, p.x0(), p.x1())
	step := math.Max(1, math.Round(niceStep(float64(span), 5)))
	if step >= 5 && step < 10 {
		step = 7 // a week
	}
	x := axis{s: xs, ticks: ticks(0, float64(span), step), label: func(v float64) string {
		return per.tick(int(v))
	}}
	lo, hi := math.Inf(1), math.Inf(-1)
	var maxAttempts int64
	for _, d := range days {
		ll := d.llSum / float64(d.attempts)
		lo, hi = math.Min(lo, ll), math.Max(hi, ll)
		maxAttempts = max(maxAttempts, d.attempts)
	}
	y := niceAxis(lo, hi, 4, p.y0(), p.y1())
	ya := niceAxis(0, float64(maxAttempts), 4, p.y0(), p.y1())
	ya.label = countLabel

	c := &svgChart{Kind: "exercise-day", Label: "Log-likelihood per " + per.one + " of " + exercise, W: p.W, H: p.H}
	c.Back = append(c.Back, rect("recent", xs.at(float64(recentFrom)-0.5), p.y1(), xs.at(float64(span)+0.5)-xs.at(float64(recentFrom)-0.5), p.y0()-p.y1(), colorRecent, ""))
	c.Back = append(c.Back, p.frame(x, y, "", "log-likelihood")...)
	c.Back = append(c.Back, p.rightAxis(ya, "attempts")...)

	bars := svgSeries{Name: "attempts", Color: colorBars}
	w := 0.8 * (xs.at(1) - xs.at(0))
	for _, d := range days {
		x0 := xs.at(float64(d.index)) - w/2
		bars.Els = append(bars.Els, rect("bar", x0, ya.s.at(float64(d.attempts)), w, ya.s.at(0)-ya.s.at(float64(d.attempts)), colorBars, ""))
	}
	llSeries := svgSeries{Name: "log-likelihood", Color: colorModel}
	var path pathBuilder
	var pts []svgEl
	prev := math.MinInt
	for _, d := range days {
		if d.index != prev+1 {
			path.Break()
		}
		prev = d.index
		ll := d.llSum / float64(d.attempts)
		px, py := xs.at(float64(d.index)), y.s.at(ll)
		path.To(px, py)
		title := fmt.Sprintf("%s %s: log-likelihood %.4f, %s attempts", exercise, per.name(d.index), round4(ll), commas(d.attempts))
		if d.aucN > 0 {
			title += fmt.Sprintf(", AUC %.3f", d.aucSum/float64(d.aucN))
		}
		pts = append(pts, circle(px, py, 2, colorModel, title))
	}
	llSeries.Els = append([]svgEl{{Tag: "path", D: path.String(), Stroke: colorModel}}, pts...)
	c.Series = []svgSeries{bars, llSeries}
	return c
}
