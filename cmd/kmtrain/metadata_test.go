package main

import (
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/bqsource"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/problemlogs"
	"github.com/kmtrain/knowledgemodel/store"
)

// The Flex Template (deploy/) runs this binary with each of its parameters as
// --name=value: these tests keep deploy/metadata.json and kmtrain's flags in
// step.

const (
	metadataFile = "../../deploy/metadata.json"
	examplesFile = "../../deploy/testdata/regex_examples.json"
)

// testOnlyFlags are kmtrain's flags the template leaves out, and why.
var testOnlyFlags = map[string]string{
	"bq_endpoint":         "points the BigQuery client at another REST endpoint (the tests' fake; an http:// one also turns credentials off)",
	"bq_storage_endpoint": "points the Storage Read client at another gRPC endpoint (the tests' fake)",
}

// defaultsOffTemplate are flags whose default the template's regexes refuse
// on purpose, and why.
var defaultsOffTemplate = map[string]string{
	"output": "./out is a local directory: on Dataflow it would land on a worker's disk, so the template takes only gs://",
}

type templateParameter struct {
	Name       string   `json:"name"`
	IsOptional bool     `json:"isOptional"`
	Regexes    []string `json:"regexes"`
	ParamType  string   `json:"paramType"`
}

func templateParameters(t *testing.T) []templateParameter {
	t.Helper()
	b, err := os.ReadFile(metadataFile)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Parameters []templateParameter `json:"parameters"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", metadataFile, err)
	}
	if len(m.Parameters) == 0 {
		t.Fatalf("%s declares no parameters", metadataFile)
	}
	return m.Parameters
}

// ownFlags returns the flags this package's own source defines, with the
// source flags it shares with kmmonitor (cmd/internal/sourceflags, which
// defines them on a *flag.FlagSet named fs), not those Beam and other
// libraries register, each with the flag function that defines it (String,
// Bool, Int, ...), found by parsing the source.
func ownFlags(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	shared, err := filepath.Glob("../internal/sourceflags/*.go")
	if err != nil || len(shared) == 0 {
		t.Fatalf("no source of the shared source flags (%v)", err)
	}
	files = append(files, shared...)
	// The position of the name among the arguments of each flag function.
	nameArg := map[string]int{
		"String": 0, "Bool": 0, "Int": 0, "Int64": 0, "Uint": 0, "Uint64": 0, "Float64": 0, "Duration": 0,
		"Func": 0, "BoolFunc": 0,
		"StringVar": 1, "BoolVar": 1, "IntVar": 1, "Int64Var": 1, "UintVar": 1, "Uint64Var": 1, "Float64Var": 1,
		"DurationVar": 1, "Var": 1, "TextVar": 1,
	}
	flags := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		flagPkg := ""
		for _, imp := range f.Imports {
			if imp.Path.Value == `"flag"` {
				flagPkg = "flag"
				if imp.Name != nil {
					flagPkg = imp.Name.Name
				}
			}
		}
		if flagPkg == "" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || (x.Name != flagPkg && !(x.Name == "fs" && strings.Contains(name, "sourceflags"))) {
				return true
			}
			i, ok := nameArg[sel.Sel.Name]
			if !ok || i >= len(call.Args) {
				return true
			}
			lit, ok := call.Args[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: flag.%s with a name that is not a string literal: this test cannot see it", fset.Position(call.Pos()), sel.Sel.Name)
				return true
			}
			fname, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			flags[fname] = sel.Sel.Name
			return true
		})
	}
	if len(flags) == 0 {
		t.Fatal("found no flag definitions in cmd/kmtrain")
	}
	return flags
}

// TestMetadataParametersAreFlags: the launcher passes every parameter as
// --name=value, and an unknown flag kills the job before it starts.
func TestMetadataParametersAreFlags(t *testing.T) {
	own := ownFlags(t)
	for _, p := range templateParameters(t) {
		if flag.Lookup(p.Name) == nil {
			t.Errorf("parameter %q is not a flag of kmtrain", p.Name)
			continue
		}
		// Beam's flags (project, region, temp_location, ...) are the
		// launcher's business: it sets them from the launch environment.
		if _, ok := own[p.Name]; !ok {
			t.Errorf("parameter %q is a flag kmtrain does not define (Beam's or a library's)", p.Name)
		}
	}
}

// TestMetadataDeclaresEveryFlag: every user-facing flag is a parameter.
func TestMetadataDeclaresEveryFlag(t *testing.T) {
	declared := map[string]bool{}
	for _, p := range templateParameters(t) {
		declared[p.Name] = true
	}
	own := ownFlags(t)
	for name := range own {
		if _, testOnly := testOnlyFlags[name]; !testOnly && !declared[name] {
			t.Errorf("flag --%s is not a parameter in deploy/metadata.json", name)
		}
	}
	for name, why := range testOnlyFlags {
		if _, ok := own[name]; !ok {
			t.Errorf("testOnlyFlags names --%s, which kmtrain no longer defines", name)
		}
		if declared[name] {
			t.Errorf("deploy/metadata.json declares %s, left out on purpose: it %s", name, why)
		}
	}
}

// TestMetadataDefaults: a parameter's regexes accept the flag's own default,
// so that giving it explicitly is always allowed.
func TestMetadataDefaults(t *testing.T) {
	own := ownFlags(t)
	for _, p := range templateParameters(t) {
		f := flag.Lookup(p.Name)
		if f == nil {
			continue // TestMetadataParametersAreFlags
		}
		if !p.IsOptional && f.DefValue != "" {
			t.Errorf("parameter %q is required, but --%s has a default (%q)", p.Name, p.Name, f.DefValue)
		}
		switch kind := own[p.Name]; kind {
		case "Bool", "BoolVar":
			if p.ParamType != "BOOLEAN" {
				t.Errorf("parameter %q: --%s is a bool flag, want paramType BOOLEAN", p.Name, p.Name)
			}
		case "Int", "Int64", "Uint", "Uint64", "Float64", "IntVar", "Int64Var", "UintVar", "Uint64Var", "Float64Var":
			if p.ParamType != "NUMBER" {
				t.Errorf("parameter %q: --%s is a number flag (%s), want paramType NUMBER", p.Name, p.Name, kind)
			}
		default:
			if p.ParamType == "BOOLEAN" || p.ParamType == "NUMBER" {
				t.Errorf("parameter %q: paramType %s, but --%s is a %s flag", p.Name, p.ParamType, p.Name, kind)
			}
		}
		if f.DefValue == "" {
			continue
		}
		if why, ok := defaultsOffTemplate[p.Name]; ok {
			t.Logf("--%s=%s not checked: %s", p.Name, f.DefValue, why)
			continue
		}
		for _, r := range p.Regexes {
			re, err := regexp.Compile(r)
			if err != nil {
				t.Errorf("parameter %q: %v", p.Name, err)
				continue
			}
			if !re.MatchString(f.DefValue) {
				t.Errorf("parameter %q: the default --%s=%s is refused by %q", p.Name, p.Name, f.DefValue, r)
			}
		}
	}
}

// TestMetadataExamplesParse: the values the regexes are tested to accept
// (deploy/testdata/regex_examples.json) are values kmtrain accepts.
func TestMetadataExamplesParse(t *testing.T) {
	b, err := os.ReadFile(examplesFile)
	if err != nil {
		t.Fatal(err)
	}
	var examples map[string]json.RawMessage
	if err := json.Unmarshal(b, &examples); err != nil {
		t.Fatal(err)
	}
	own := ownFlags(t)
	parsers := map[string]func(string) error{
		"problem_numbers": func(s string) error { _, err := features.ParseWindow(s); return err },
		"columns":         func(s string) error { _, err := problemlogs.ParseColumns(s); return err },
		"version":         store.CheckVersionID,
		"bq_table":        func(s string) error { _, err := bqsource.ParseTableID(s); return err },
		"bq_destination":  func(s string) error { _, err := bqsource.ParseTableID(s); return err },
	}
	// kmtrain reads a window bound as a date (UTC midnight), a time, or
	// relative to the launch.
	bound := func(s string) error { _, err := bqsource.ParseBound(s, time.Now()); return err }
	parsers["start"], parsers["end"], parsers["holdout_after"] = bound, bound, bound

	for _, p := range templateParameters(t) {
		raw, ok := examples[p.Name]
		if !ok {
			continue // deploy's TestMetadataRegexes wants one
		}
		var ex struct {
			Good []string `json:"good"`
		}
		if err := json.Unmarshal(raw, &ex); err != nil {
			t.Fatalf("%s: %s: %v", examplesFile, p.Name, err)
		}
		parse := parsers[p.Name]
		if parse == nil {
			// Numbers and booleans: what flag.Parse would make of them.
			kind := own[p.Name]
			if !slices.Contains([]string{"Bool", "Int", "Int64", "Float64"}, kind) {
				continue
			}
			parse = func(s string) error {
				fs := flag.NewFlagSet("kmtrain", flag.ContinueOnError)
				switch kind {
				case "Bool":
					fs.Bool(p.Name, false, "")
				case "Int":
					fs.Int(p.Name, 0, "")
				case "Int64":
					fs.Int64(p.Name, 0, "")
				case "Float64":
					fs.Float64(p.Name, 0, "")
				}
				return fs.Set(p.Name, s)
			}
		}
		for _, v := range ex.Good {
			if err := parse(v); err != nil {
				t.Errorf("parameter %q: the template accepts %q, kmtrain refuses it: %v", p.Name, v, err)
			}
		}
	}
}
