package report

import (
	"html/template"
	"math"
	"strconv"
	"strings"
)

// funcs are the templates' formatting functions. NaN and infinities print
// as "—".
var funcs = template.FuncMap{
	"num":    num,
	"ll":     func(v float64) string { return fixed(v, 4) },
	"auc":    func(v float64) string { return fixed(v, 3) },
	"pct":    func(v float64) string { return pct(v) },
	"signed": signed,
	"count":  func(n int64) string { return commas(n) },
}

func fixed(v float64, dec int) string {
	if !finite(v) {
		return "—"
	}
	if v == 0 {
		v = 0 // no "-0"
	}
	s := strconv.FormatFloat(v, 'f', dec, 64)
	if strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-")
	}
	return s
}

func pct(v float64) string {
	if !finite(v) {
		return "—"
	}
	return fixed(100*v, 1) + "%"
}

// signed formats a difference of log-likelihoods with its sign.
func signed(v float64) string {
	s := fixed(v, 4)
	if finite(v) && !strings.HasPrefix(s, "-") && strings.Trim(s, "0.") != "" {
		s = "+" + s
	}
	return s
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// round4 rounds for display in hover texts.
func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// common holds the templates both pages use: the style and the chart.
const common = `
{{define "style"}}<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:14px;margin:0 0 4px;word-break:break-all}
.meta{color:#666;font-size:13px;margin:0 0 8px}
table{border-collapse:collapse;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f6f6f6;position:sticky;top:0}
td.name,th.name{text-align:left;white-space:normal;word-break:break-all;max-width:420px}
.neg{color:#b00020}.pos{color:#1b7f3b}
.empty{color:#666;font-style:italic;padding:12px;border:1px dashed #ccc;background:#fafafa;max-width:640px}
.note{color:#555;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start}
.card{border:1px solid #e3e3e3;border-radius:4px;padding:8px;background:#fff}
.verdict{display:inline-block;padding:4px 10px;border-radius:4px;font-weight:bold;color:#fff}
.verdict.passed{background:#1b7f3b}.verdict.failed{background:#b00020}.verdict.forced{background:#b26a00}
svg.chart{display:block;background:#fff;overflow:visible}
svg.chart text{font-family:inherit}
svg.chart .grid{stroke:#ececec}
svg.chart .axis{stroke:#444}
svg.chart .tickmark{stroke:#444}
svg.chart .tick{font-size:10px;fill:#555}
svg.chart .axis-title{font-size:11px;fill:#333}
svg.chart .diag{stroke:#888;stroke-dasharray:4 3}
svg.chart .pt-label{font-size:9px;fill:#333}
svg.chart .legend text{font-size:11px;fill:#333}
svg.chart .series path{stroke-width:1.8;stroke-linejoin:round}
svg.chart circle{fill-opacity:.75}
p.download{margin:.2em 0 1em;font-size:12px}
</style>{{end}}

{{define "chart"}}<svg class="chart" data-chart="{{.Kind}}" role="img" aria-label="{{.Label}}" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}">
{{range .Back}}{{template "el" .}}{{end}}
{{- range .Series}}<g class="series" data-series="{{.Name}}">{{range .Els}}{{template "el" .}}{{end}}</g>
{{end}}
{{- range .Legend}}<g class="legend"><rect x="{{num .X}}" y="{{num .Y}}" width="12" height="10" fill="{{.Color}}"/><text x="{{num .X}}" dx="16" y="{{num .Y}}" dy="9">{{.Text}}</text></g>
{{end}}</svg>{{with .CSV}}{{template "csv" .}}{{end}}{{end}}

{{define "csv"}}{{with .}}<p class="download"><a class="csv" data-for="{{.For}}" download="{{.Name}}" href="{{.Href}}">Download the data (CSV)</a></p>{{end}}{{end}}

{{define "el" -}}
{{if eq .Tag "line"}}<line{{with .Class}} class="{{.}}"{{end}} x1="{{num .X1}}" y1="{{num .Y1}}" x2="{{num .X2}}" y2="{{num .Y2}}"{{with .Stroke}} stroke="{{.}}"{{end}}/>
{{else if eq .Tag "path"}}<path{{with .Class}} class="{{.}}"{{end}} d="{{.D}}" fill="none" stroke="{{.Stroke}}"/>
{{else if eq .Tag "circle"}}<circle cx="{{num .X1}}" cy="{{num .Y1}}" r="{{num .R}}" fill="{{.Fill}}">{{with .Title}}<title>{{.}}</title>{{end}}</circle>
{{else if eq .Tag "rect"}}<rect{{with .Class}} class="{{.}}"{{end}} x="{{num .X1}}" y="{{num .Y1}}" width="{{num .X2}}" height="{{num .Y2}}" fill="{{.Fill}}">{{with .Title}}<title>{{.}}</title>{{end}}</rect>
{{else if eq .Tag "text"}}<text{{with .Class}} class="{{.}}"{{end}} x="{{num .X1}}" y="{{num .Y1}}"{{with .Anchor}} text-anchor="{{.}}"{{end}}{{if .Rotate}} transform="rotate(-90 {{num .X1}} {{num .Y1}})"{{end}}>{{.Text}}</text>
{{end}}{{end}}
`

// parse returns the page template named name, with the common templates.
func parse(name, page string) *template.Template {
	return template.Must(template.Must(template.New(name).Funcs(funcs).Parse(common)).Parse(page))
}
