package deploy

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

const tfDir = "terraform"

// tfConfig is the Terraform in terraform/, parsed with the HCL library
// Terraform itself uses.
type tfConfig struct {
	variables map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	resources map[string]*hclsyntax.Block // by TYPE.NAME
	terraform []*hclsyntax.Block
	refs      []hcl.Traversal // every reference in every expression
}

func loadTerraform(t *testing.T) *tfConfig {
	t.Helper()
	return loadTerraformDir(t, tfDir)
}

// loadTerraformDir parses the Terraform of one directory (a root module).
func loadTerraformDir(t *testing.T, dir string) *tfConfig {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in %s (%v)", dir, err)
	}
	c := &tfConfig{variables: map[string]*hclsyntax.Block{}, locals: map[string]*hclsyntax.Attribute{}, resources: map[string]*hclsyntax.Block{}}
	p := hclparse.NewParser()
	for _, path := range files {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", path, diags.Error())
		}
		body := f.Body.(*hclsyntax.Body)
		c.collectRefs(body)
		for _, b := range body.Blocks {
			switch b.Type {
			case "variable":
				if c.variables[b.Labels[0]] != nil {
					t.Errorf("variable %q declared twice", b.Labels[0])
				}
				c.variables[b.Labels[0]] = b
			case "locals":
				for name, a := range b.Body.Attributes {
					if c.locals[name] != nil {
						t.Errorf("local %q declared twice", name)
					}
					c.locals[name] = a
				}
			case "resource":
				c.resources[b.Labels[0]+"."+b.Labels[1]] = b
			case "terraform":
				c.terraform = append(c.terraform, b)
			}
		}
	}
	return c
}

func (c *tfConfig) collectRefs(body *hclsyntax.Body) {
	for _, a := range body.Attributes {
		c.refs = append(c.refs, a.Expr.Variables()...)
	}
	for _, b := range body.Blocks {
		c.collectRefs(b.Body)
	}
}

// resource returns the resource TYPE.NAME, failing the test if there is none.
func (c *tfConfig) resource(t *testing.T, name string) *hclsyntax.Block {
	t.Helper()
	r := c.resources[name]
	if r == nil {
		t.Fatalf("no resource %s", name)
	}
	return r
}

func block(t *testing.T, b *hclsyntax.Block, typ string) *hclsyntax.Block {
	t.Helper()
	for _, nb := range b.Body.Blocks {
		if nb.Type == typ {
			return nb
		}
	}
	t.Fatalf("%s %v has no %s block", b.Type, b.Labels, typ)
	return nil
}

// tfFunctions are the Terraform functions main.tf uses, from the cty and HCL
// libraries Terraform builds its own on, plus the few Terraform defines.
func tfFunctions() map[string]function.Function {
	str := func(f func(string) (string, error)) function.Function {
		return function.New(&function.Spec{
			Params: []function.Parameter{{Name: "s", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				s, err := f(args[0].AsString())
				return cty.StringVal(s), err
			},
		})
	}
	toSet := func(v cty.Value) (cty.Value, error) { return convert.Convert(v, cty.Set(cty.DynamicPseudoType)) }
	return map[string]function.Function{
		"alltrue": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
			Type:   function.StaticReturnType(cty.Bool),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				for it := args[0].ElementIterator(); it.Next(); {
					if _, v := it.Element(); v.IsNull() || v.False() {
						return cty.False, nil
					}
				}
				return cty.True, nil
			},
		}),
		"base64encode": str(func(s string) (string, error) { return base64.StdEncoding.EncodeToString([]byte(s)), nil }),
		"base64decode": str(func(s string) (string, error) {
			b, err := base64.StdEncoding.DecodeString(s)
			return string(b), err
		}),
		// Terraform resolves file() relative to the working directory; the
		// configuration only passes it paths under path.module.
		"file": str(func(path string) (string, error) {
			b, err := os.ReadFile(path)
			return string(b), err
		}),
		"toset": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
			Type: func(args []cty.Value) (cty.Type, error) {
				v, err := toSet(args[0])
				return v.Type(), err
			},
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) { return toSet(args[0]) },
		}),
		"can":             tryfunc.CanFunc,
		"try":             tryfunc.TryFunc,
		"coalesce":        stdlib.CoalesceFunc,
		"concat":          stdlib.ConcatFunc,
		"contains":        stdlib.ContainsFunc,
		"floor":           stdlib.FloorFunc,
		"join":            stdlib.JoinFunc,
		"jsondecode":      stdlib.JSONDecodeFunc,
		"jsonencode":      stdlib.JSONEncodeFunc,
		"keys":            stdlib.KeysFunc,
		"length":          stdlib.LengthFunc,
		"merge":           stdlib.MergeFunc,
		"regex":           stdlib.RegexFunc,
		"setintersection": stdlib.SetIntersectionFunc,
		"setsubtract":     stdlib.SetSubtractFunc,
	}
}

// tfEval is the configuration evaluated for some input variables: the
// variables as Terraform would type them, and every local.
type tfEval struct {
	c   *tfConfig
	ctx *hcl.EvalContext
}

// baseVars are the required variables, set as a user would.
var baseVars = map[string]cty.Value{
	"project":  cty.StringVal("kmtrain-test"),
	"bucket":   cty.StringVal("kmtrain-test-bucket"),
	"bq_table": cty.StringVal("kmtrain-test.logs.problemlogs"),
}

func with(over map[string]cty.Value) map[string]cty.Value {
	m := map[string]cty.Value{}
	for k, v := range baseVars {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

func (c *tfConfig) eval(t *testing.T, given map[string]cty.Value) *tfEval {
	t.Helper()
	dir, err := filepath.Abs(tfDir)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]cty.Value{}
	for name, b := range c.variables {
		ty := cty.DynamicPseudoType
		if a := b.Body.Attributes["type"]; a != nil {
			var diags hcl.Diagnostics
			if ty, diags = typeexpr.TypeConstraint(a.Expr); diags.HasErrors() {
				t.Fatalf("variable %s: %s", name, diags.Error())
			}
		}
		v, ok := given[name]
		if !ok {
			d := b.Body.Attributes["default"]
			if d == nil {
				t.Fatalf("variable %s has no default: give it in the test", name)
			}
			var diags hcl.Diagnostics
			if v, diags = d.Expr.Value(nil); diags.HasErrors() {
				t.Fatalf("variable %s default: %s", name, diags.Error())
			}
		}
		if v.IsNull() {
			vars[name] = cty.NullVal(ty)
			continue
		}
		if vars[name], err = convert.Convert(v, ty); err != nil {
			t.Fatalf("variable %s = %#v: %v", name, v, err)
		}
	}
	for name := range given {
		if c.variables[name] == nil {
			t.Fatalf("the test sets %s, which variables.tf does not declare", name)
		}
	}
	e := &tfEval{c: c, ctx: &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":   cty.ObjectVal(vars),
			"path":  cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(dir)}),
			"local": cty.EmptyObjectVal,
		},
		Functions: tfFunctions(),
	}}
	// Locals in dependency order.
	done := map[string]cty.Value{}
	for len(done) < len(c.locals) {
		progress := false
		for name, a := range c.locals {
			if _, ok := done[name]; ok {
				continue
			}
			ready := true
			for _, ref := range a.Expr.Variables() {
				if ref.RootName() == "local" {
					if _, ok := done[attrName(ref)]; !ok {
						ready = false
					}
				}
			}
			if !ready {
				continue
			}
			v, diags := a.Expr.Value(e.ctx)
			if diags.HasErrors() {
				t.Fatalf("local.%s: %s", name, diags.Error())
			}
			done[name] = v
			e.ctx.Variables["local"] = cty.ObjectVal(done)
			progress = true
		}
		if !progress {
			t.Fatal("locals refer to each other in a cycle, or to undeclared locals")
		}
	}
	// The service accounts' attributes, as the provider computes them.
	accounts := map[string]cty.Value{}
	for _, name := range []string{"worker", "scheduler"} {
		sa := c.resource(t, "google_service_account."+name)
		id, project := e.str(t, sa.Body.Attributes["account_id"].Expr, nil), e.str(t, sa.Body.Attributes["project"].Expr, nil)
		email := id + "@" + project + ".iam.gserviceaccount.com"
		accounts[name] = cty.ObjectVal(map[string]cty.Value{
			"email":  cty.StringVal(email),
			"member": cty.StringVal("serviceAccount:" + email),
			"name":   cty.StringVal("projects/" + project + "/serviceAccounts/" + email),
		})
	}
	e.ctx.Variables["google_service_account"] = cty.ObjectVal(accounts)
	return e
}

func attrName(tr hcl.Traversal) string {
	if len(tr) > 1 {
		if a, ok := tr[1].(hcl.TraverseAttr); ok {
			return a.Name
		}
	}
	return ""
}

// value evaluates expr, with each (for_each) or count set when given.
func (e *tfEval) value(t *testing.T, expr hcl.Expression, extra map[string]cty.Value) cty.Value {
	t.Helper()
	ctx := e.ctx
	if extra != nil {
		ctx = e.ctx.NewChild()
		ctx.Variables = extra
	}
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		t.Fatalf("%s", diags.Error())
	}
	return v
}

func (e *tfEval) str(t *testing.T, expr hcl.Expression, extra map[string]cty.Value) string {
	t.Helper()
	v := e.value(t, expr, extra)
	if v.IsNull() || !v.Type().Equals(cty.String) {
		t.Fatalf("%s: want a string, have %#v", expr.Range(), v)
	}
	return v.AsString()
}

func TestTerraformParses(t *testing.T) {
	c := loadTerraform(t)
	if len(c.terraform) == 0 {
		t.Fatal("no terraform block")
	}
	found := false
	for _, tb := range c.terraform {
		for _, rp := range tb.Body.Blocks {
			if rp.Type != "required_providers" {
				continue
			}
			a := rp.Body.Attributes["google"]
			if a == nil {
				continue
			}
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatal(diags.Error())
			}
			found = true
			if src := v.GetAttr("source"); src.AsString() != "hashicorp/google" {
				t.Errorf("google provider source %q", src.AsString())
			}
			if ver := v.GetAttr("version").AsString(); !regexp.MustCompile(`^~> \d+\.\d+`).MatchString(ver) {
				t.Errorf("google provider version %q: pin a major version with ~>", ver)
			}
		}
	}
	if !found {
		t.Error("no required_providers entry for google")
	}
}

func TestTerraformVariables(t *testing.T) {
	c := loadTerraform(t)
	used := map[string]bool{}
	for _, ref := range c.refs {
		switch ref.RootName() {
		case "var":
			name := attrName(ref)
			used[name] = true
			if c.variables[name] == nil {
				t.Errorf("%s: var.%s is not declared in variables.tf", ref.SourceRange(), name)
			}
		case "local":
			if name := attrName(ref); c.locals[name] == nil {
				t.Errorf("%s: local.%s is not declared", ref.SourceRange(), name)
			}
		}
	}
	for name, b := range c.variables {
		if !used[name] {
			t.Errorf("variable %s is declared but never used", name)
		}
		if b.Body.Attributes["description"] == nil || b.Body.Attributes["type"] == nil {
			t.Errorf("variable %s needs a description and a type", name)
		}
	}

	// Defaults pass their own validations; values Terraform must refuse do not.
	validations := func(e *tfEval, name string) bool {
		ok := true
		for _, vb := range c.variables[name].Body.Blocks {
			if vb.Type == "validation" && e.value(t, vb.Body.Attributes["condition"].Expr, nil).False() {
				ok = false
			}
		}
		return ok
	}
	e := c.eval(t, baseVars)
	for name := range c.variables {
		if !validations(e, name) {
			t.Errorf("variable %s: the default or test value fails its own validation", name)
		}
	}
	for _, bad := range []struct {
		name string
		v    cty.Value
	}{
		{"job_name", cty.StringVal("KMTrain_Nightly")},
		{"job_name", cty.StringVal("kmtrain-")},
		{"window_days", cty.NumberFloatVal(1.5)},
		{"window_days", cty.NumberIntVal(0)},
		{"template_gcs_path", cty.StringVal("templates/kmtrain.json")},
		{"schedule", cty.StringVal("daily")},
		{"bq_datasets", cty.ListVal([]cty.Value{cty.StringVal("logs")})},
	} {
		if validations(c.eval(t, with(map[string]cty.Value{bad.name: bad.v})), bad.name) {
			t.Errorf("variable %s = %#v passes validation", bad.name, bad.v)
		}
	}
}

// The Dataflow API's fields (v1b3) that a flexTemplates:launch body may use.
var (
	launchParameterFields = []string{"jobName", "parameters", "launchOptions", "environment", "update",
		"transformNameMappings", "containerSpecGcsPath", "containerSpec"}
	runtimeEnvironmentFields = []string{"additionalExperiments", "additionalPipelineOptions", "additionalUserLabels",
		"autoscalingAlgorithm", "diskSizeGb", "dumpHeapOnOom", "enableLauncherVmSerialPortLogging",
		"enableStreamingEngine", "flexrsGoal", "ipConfiguration", "kmsKeyName", "launcherMachineType", "machineType",
		"maxWorkers", "network", "numWorkers", "saveHeapDumpsToGcsPath", "sdkContainerImage", "serviceAccountEmail",
		"stagingLocation", "streamingMode", "subnetwork", "tempLocation", "workerRegion", "workerZone", "zone"}
)

type launchRequest struct {
	LaunchParameter map[string]json.RawMessage `json:"launchParameter"`
}

// TestTerraformLaunchRequest evaluates the request Cloud Scheduler will send
// and checks it against the Dataflow API and the template's metadata.
func TestTerraformLaunchRequest(t *testing.T) {
	c := loadTerraform(t)
	regexes := map[string][]*regexp.Regexp{}
	for _, p := range readMetadata(t).Parameters {
		for _, r := range p.Regexes {
			regexes[p.Name] = append(regexes[p.Name], regexp.MustCompile(r))
		}
	}
	job := c.resource(t, "google_cloud_scheduler_job.kmtrain")
	target := block(t, job, "http_target")
	token := block(t, target, "oauth_token")

	for _, tc := range []struct {
		name   string
		vars   map[string]cty.Value
		params map[string]string
		env    map[string]any
	}{
		{
			name: "defaults",
			vars: baseVars,
			params: map[string]string{"bq_table": "kmtrain-test.logs.problemlogs", "start": "-90d", "end": "today",
				"bq_project": "kmtrain-test", "datastore_project": "kmtrain-test"},
			env: map[string]any{"serviceAccountEmail": "kmtrain-worker@kmtrain-test.iam.gserviceaccount.com",
				"tempLocation": "gs://kmtrain-test-bucket/tmp", "stagingLocation": "gs://kmtrain-test-bucket/staging",
				"machineType": "n2-standard-4", "maxWorkers": float64(10)},
		},
		{
			name: "overrides",
			vars: with(map[string]cty.Value{
				"window_days":       cty.NumberIntVal(30),
				"datastore_project": cty.StringVal("kmtrain-model"),
				"parameters":        cty.MapVal(map[string]cty.Value{"promote": cty.StringVal("false"), "end": cty.StringVal("yesterday")}),
				"num_workers":       cty.NumberIntVal(2),
				"private_ips":       cty.True,
				"labels":            cty.MapVal(map[string]cty.Value{"team": cty.StringVal("ml")}),
				"subnetwork":        cty.StringVal("regions/us-central1/subnetworks/dataflow"),
			}),
			params: map[string]string{"bq_table": "kmtrain-test.logs.problemlogs", "start": "-30d", "end": "yesterday",
				"bq_project": "kmtrain-test", "datastore_project": "kmtrain-model", "promote": "false"},
			env: map[string]any{"serviceAccountEmail": "kmtrain-worker@kmtrain-test.iam.gserviceaccount.com",
				"tempLocation": "gs://kmtrain-test-bucket/tmp", "stagingLocation": "gs://kmtrain-test-bucket/staging",
				"machineType": "n2-standard-4", "maxWorkers": float64(10), "numWorkers": float64(2),
				"ipConfiguration": "WORKER_IP_PRIVATE", "additionalUserLabels": map[string]any{"team": "ml"},
				"subnetwork": "regions/us-central1/subnetworks/dataflow"},
		},
		{
			// start/end select a window of a table; kmtrain refuses them with a query.
			name: "query",
			vars: with(map[string]cty.Value{
				"bq_table":   cty.NullVal(cty.String),
				"parameters": cty.MapVal(map[string]cty.Value{"bq_query": cty.StringVal("SELECT user, time_done, exercise, problem_type, problem_number, correct FROM `kmtrain-test.logs.problemlogs`")}),
			}),
			params: map[string]string{"bq_query": "SELECT user, time_done, exercise, problem_type, problem_number, correct FROM `kmtrain-test.logs.problemlogs`",
				"bq_project": "kmtrain-test", "datastore_project": "kmtrain-test"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := c.eval(t, tc.vars)
			vars := e.ctx.Variables["var"]
			project, region := vars.GetAttr("project").AsString(), vars.GetAttr("region").AsString()
			if got, want := e.str(t, target.Body.Attributes["uri"].Expr, nil),
				"https://dataflow.googleapis.com/v1b3/projects/"+project+"/locations/"+region+"/flexTemplates:launch"; got != want {
				t.Errorf("uri %q, want %q", got, want)
			}
			if got := e.str(t, target.Body.Attributes["http_method"].Expr, nil); got != "POST" {
				t.Errorf("http_method %q, want POST", got)
			}
			if h := e.value(t, target.Body.Attributes["headers"].Expr, nil); h.GetAttr("Content-Type").AsString() != "application/json" {
				t.Errorf("headers %#v: want Content-Type: application/json", h)
			}
			if got := e.str(t, token.Body.Attributes["scope"].Expr, nil); got != "https://www.googleapis.com/auth/cloud-platform" {
				t.Errorf("oauth_token scope %q", got)
			}
			scheduler := e.ctx.Variables["google_service_account"].GetAttr("scheduler").GetAttr("email").AsString()
			if got := e.str(t, token.Body.Attributes["service_account_email"].Expr, nil); got != scheduler {
				t.Errorf("oauth_token service_account_email %q, want the scheduler account %q", got, scheduler)
			}

			body, err := base64.StdEncoding.DecodeString(e.str(t, target.Body.Attributes["body"].Expr, nil))
			if err != nil {
				t.Fatalf("body is not base64 (Cloud Scheduler wants it encoded): %v", err)
			}
			var req launchRequest
			dec := json.NewDecoder(strings.NewReader(string(body)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			for k := range req.LaunchParameter {
				if !slices.Contains(launchParameterFields, k) {
					t.Errorf("launchParameter.%s is not a LaunchFlexTemplateParameter field", k)
				}
			}
			var jobName, spec string
			var params map[string]string
			var env map[string]any
			for k, dst := range map[string]any{"jobName": &jobName, "containerSpecGcsPath": &spec, "parameters": &params, "environment": &env} {
				if err := json.Unmarshal(req.LaunchParameter[k], dst); err != nil {
					t.Errorf("launchParameter.%s: %v", k, err)
				}
			}
			if want := e.str(t, job.Body.Attributes["name"].Expr, nil); jobName != want || jobName != "kmtrain-scheduled" {
				t.Errorf("jobName %q, want the fixed name kmtrain-scheduled (the scheduler job's own name %q)", jobName, want)
			}
			if spec != "gs://kmtrain-test-bucket/templates/kmtrain.json" {
				t.Errorf("containerSpecGcsPath %q", spec)
			}
			if !mapsEqual(params, tc.params) {
				t.Errorf("parameters %v, want %v", params, tc.params)
			}
			for k, v := range params {
				rs, ok := regexes[k]
				if !ok {
					t.Errorf("parameter %s is not in metadata.json", k)
				}
				for _, re := range rs {
					if !re.MatchString(v) {
						t.Errorf("parameter %s=%q refused by %s", k, v, re)
					}
				}
			}
			for k := range env {
				if !slices.Contains(runtimeEnvironmentFields, k) {
					t.Errorf("environment.%s is not a FlexTemplateRuntimeEnvironment field", k)
				}
			}
			if tc.env != nil && fmt.Sprint(env) != fmt.Sprint(tc.env) {
				t.Errorf("environment %v, want %v", env, tc.env)
			}
			worker := e.ctx.Variables["google_service_account"].GetAttr("worker").GetAttr("email").AsString()
			if env["serviceAccountEmail"] != worker {
				t.Errorf("environment.serviceAccountEmail %v, want the worker account %s", env["serviceAccountEmail"], worker)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestTerraformPreconditions checks that the scheduler job refuses at plan
// time what kmtrain would refuse at launch.
func TestTerraformPreconditions(t *testing.T) {
	c := loadTerraform(t)
	job := c.resource(t, "google_cloud_scheduler_job.kmtrain")
	var conds []hcl.Expression
	for _, pc := range block(t, job, "lifecycle").Body.Blocks {
		if pc.Type == "precondition" {
			conds = append(conds, pc.Body.Attributes["condition"].Expr)
		}
	}
	if len(conds) == 0 {
		t.Fatal("the scheduler job has no preconditions")
	}
	params := func(kv ...string) cty.Value {
		m := map[string]cty.Value{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = cty.StringVal(kv[i+1])
		}
		return cty.MapVal(m)
	}
	for _, tc := range []struct {
		name string
		vars map[string]cty.Value
		ok   bool
	}{
		{"defaults", baseVars, true},
		{"extra parameters", with(map[string]cty.Value{"parameters": params("promote", "false", "min_rows", "50", "bq_location", "US")}), true},
		{"query", with(map[string]cty.Value{"bq_table": cty.NullVal(cty.String), "parameters": params("bq_query", "SELECT * FROM t")}), true},
		{"files", with(map[string]cty.Value{"bq_table": cty.NullVal(cty.String), "parameters": params("input", "gs://b/logs/*.csv.gz")}), true},
		{"unknown parameter", with(map[string]cty.Value{"parameters": params("bq_endpoint", "http://localhost:9050")}), false},
		{"Beam option as parameter", with(map[string]cty.Value{"parameters": params("runner", "direct")}), false},
		{"bad value", with(map[string]cty.Value{"parameters": params("start", "last week")}), false},
		{"bad table", with(map[string]cty.Value{"bq_table": cty.StringVal("problemlogs")}), false},
		{"no source", with(map[string]cty.Value{"bq_table": cty.NullVal(cty.String)}), false},
		{"two sources", with(map[string]cty.Value{"parameters": params("bq_query", "SELECT 1")}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := c.eval(t, tc.vars)
			ok := true
			for _, cond := range conds {
				ok = ok && e.value(t, cond, nil).True()
			}
			if ok != tc.ok {
				t.Errorf("preconditions hold: %v, want %v", ok, tc.ok)
			}
		})
	}
}

type grant struct{ resource, role, member, scope string }

// grants evaluates every *_iam_member resource into who gets which role.
func (e *tfEval) grants(t *testing.T) []grant {
	var gs []grant
	var names []string
	for name := range e.c.resources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := e.c.resources[name]
		if !strings.HasSuffix(r.Labels[0], "_iam_member") {
			continue
		}
		var instances []map[string]cty.Value
		switch {
		case r.Body.Attributes["for_each"] != nil:
			fe := e.value(t, r.Body.Attributes["for_each"].Expr, nil)
			for it := fe.ElementIterator(); it.Next(); {
				k, v := it.Element()
				if fe.Type().IsSetType() {
					k = v
				}
				instances = append(instances, map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})})
			}
		case r.Body.Attributes["count"] != nil:
			n, _ := e.value(t, r.Body.Attributes["count"].Expr, nil).AsBigFloat().Int64()
			for i := int64(0); i < n; i++ {
				instances = append(instances, map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(i)})})
			}
		default:
			instances = append(instances, nil)
		}
		for _, inst := range instances {
			g := grant{resource: name, role: e.str(t, r.Body.Attributes["role"].Expr, inst), member: e.str(t, r.Body.Attributes["member"].Expr, inst)}
			for _, scope := range []string{"project", "bucket", "repository", "dataset_id", "service_account_id"} {
				if a := r.Body.Attributes[scope]; a != nil {
					g.scope += scope + "=" + e.str(t, a.Expr, inst) + " "
				}
			}
			gs = append(gs, g)
		}
	}
	return gs
}

func TestTerraformRoles(t *testing.T) {
	c := loadTerraform(t)
	for _, tc := range []struct {
		name string
		vars map[string]cty.Value
	}{
		{"defaults", baseVars},
		{"datasets", with(map[string]cty.Value{
			"bq_datasets":            cty.ListVal([]cty.Value{cty.StringVal("kmtrain-test.logs"), cty.StringVal("example.com:other.shared")}),
			"bq_destination_dataset": cty.StringVal("kmtrain-test.scratch"),
			"datastore_project":      cty.StringVal("kmtrain-model"),
		})},
		{"datastore project as a parameter", with(map[string]cty.Value{
			"parameters": cty.MapVal(map[string]cty.Value{"datastore_project": cty.StringVal("kmtrain-model")}),
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := c.eval(t, tc.vars)
			accounts := e.ctx.Variables["google_service_account"]
			worker, scheduler := accounts.GetAttr("worker"), accounts.GetAttr("scheduler")
			roles := map[string][]string{}
			for _, g := range e.grants(t) {
				roles[g.member] = append(roles[g.member], g.role)
				t.Logf("%s: %s %s %s", g.resource, g.member, g.role, g.scope)
				// The project kmtrain is launched to write to.
				datastore := e.ctx.Variables["local"].GetAttr("parameters").GetAttr("datastore_project").AsString()
				switch {
				case g.role == "roles/datastore.user" && g.scope != "project="+datastore+" ":
					t.Errorf("%s: datastore.user on %s, want project=%s", g.resource, g.scope, datastore)
				case g.role == "roles/iam.serviceAccountUser" && g.scope != "service_account_id="+worker.GetAttr("name").AsString()+" ":
					t.Errorf("%s: serviceAccountUser on %s, want the worker account", g.resource, g.scope)
				}
			}
			want := map[string][]string{
				worker.GetAttr("member").AsString(): {"roles/dataflow.worker", "roles/bigquery.jobUser",
					"roles/bigquery.readSessionUser", "roles/bigquery.dataViewer", "roles/datastore.user",
					"roles/storage.objectAdmin", "roles/artifactregistry.reader"},
				scheduler.GetAttr("member").AsString(): {"roles/dataflow.developer", "roles/iam.serviceAccountUser",
					"roles/storage.objectViewer"},
			}
			for member, rs := range want {
				for _, r := range rs {
					if !slices.Contains(roles[member], r) {
						t.Errorf("%s lacks %s (has %v)", member, r, roles[member])
					}
				}
			}
			// The workers run pipeline code: they must not start jobs or
			// act as other accounts; the scheduler must not read data.
			for _, r := range roles[worker.GetAttr("member").AsString()] {
				if slices.Contains([]string{"roles/dataflow.developer", "roles/dataflow.admin", "roles/iam.serviceAccountUser", "roles/owner", "roles/editor"}, r) {
					t.Errorf("the worker account has %s", r)
				}
			}
			for _, r := range roles[scheduler.GetAttr("member").AsString()] {
				if strings.HasPrefix(r, "roles/bigquery.") || strings.HasPrefix(r, "roles/datastore.") || r == "roles/storage.objectAdmin" {
					t.Errorf("the scheduler account has %s", r)
				}
			}
			if len(roles) != 2 {
				t.Errorf("roles granted to %d members, want the two service accounts: %v", len(roles), roles)
			}
		})
	}
}

// TestStreamTerraform checks terraform/stream, the streaming job's
// deployment: every variable declared and described, a subscription with a
// dead-letter topic, a job on Streaming Engine that drains when destroyed,
// and only parameters the streaming template declares.
func TestStreamTerraform(t *testing.T) {
	c := loadTerraformDir(t, filepath.Join(tfDir, "stream"))
	used := map[string]bool{}
	for _, ref := range c.refs {
		if ref.RootName() == "var" {
			name := attrName(ref)
			used[name] = true
			if c.variables[name] == nil {
				t.Errorf("%s: var.%s is not declared", ref.SourceRange(), name)
			}
		}
	}
	for name, b := range c.variables {
		if !used[name] {
			t.Errorf("variable %s is declared but never used", name)
		}
		if b.Body.Attributes["description"] == nil || b.Body.Attributes["type"] == nil {
			t.Errorf("variable %s needs a description and a type", name)
		}
	}
	block(t, c.resource(t, "google_pubsub_subscription.kmstream"), "dead_letter_policy")
	job := c.resource(t, "google_dataflow_flex_template_job.kmstream")
	for attr, want := range map[string]cty.Value{"enable_streaming_engine": cty.True, "on_delete": cty.StringVal("drain")} {
		a := job.Body.Attributes[attr]
		if a == nil {
			t.Errorf("the job has no %s", attr)
			continue
		}
		if v, diags := a.Expr.Value(nil); diags.HasErrors() || !v.RawEquals(want) {
			t.Errorf("the job's %s = %#v, want %#v", attr, v, want)
		}
	}
	b, err := os.ReadFile("kmstream-metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Parameters []struct{ Name string } }
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, p := range m.Parameters {
		declared[p.Name] = true
	}
	src, err := os.ReadFile(filepath.Join(tfDir, "stream", "main.tf"))
	if err != nil {
		t.Fatal(err)
	}
	params := regexp.MustCompile(`(?s)parameters = merge\((.*?)var\.parameters\)`).FindSubmatch(src)
	if params == nil {
		t.Fatal("main.tf: no parameters = merge(..., var.parameters)")
	}
	for _, k := range regexp.MustCompile(`(\w+)\s*=`).FindAllSubmatch(params[1], -1) {
		if !declared[string(k[1])] {
			t.Errorf("the job sets parameter %s, which kmstream-metadata.json does not declare", k[1])
		}
	}
}

// TestStreamTerraformSinks evaluates terraform/stream's locals, the counts
// of its sink grants and its preconditions: the worker account may publish
// alerts and write the BigQuery table the job is given, and a job with no
// model to score with is refused at plan time.
func TestStreamTerraformSinks(t *testing.T) {
	c := loadTerraformDir(t, filepath.Join(tfDir, "stream"))
	job := c.resource(t, "google_dataflow_flex_template_job.kmstream")
	var conds []hcl.Expression
	for _, pc := range block(t, job, "lifecycle").Body.Blocks {
		if pc.Type == "precondition" {
			conds = append(conds, pc.Body.Attributes["condition"].Expr)
		}
	}
	for _, tc := range []struct {
		name             string
		datastore        cty.Value
		params           map[string]cty.Value
		ok               bool
		alerts, bigquery int64
	}{
		{"datastore model", cty.StringVal("kmtrain-model"), nil, true, 0, 0},
		{"gs:// model", cty.NullVal(cty.String), map[string]cty.Value{"model": cty.StringVal("gs://b/models/v1")}, true, 0, 0},
		{"no model", cty.NullVal(cty.String), nil, false, 0, 0},
		{"local model", cty.NullVal(cty.String), map[string]cty.Value{"model": cty.StringVal("./out")}, false, 0, 0},
		{"sinks", cty.StringVal("p"), map[string]cty.Value{
			"alert_topic": cty.StringVal("projects/ops/topics/alerts"), "bq_output": cty.StringVal("ana:live.windows")}, true, 1, 1},
		{"bad topic", cty.StringVal("p"), map[string]cty.Value{"alert_topic": cty.StringVal("alerts")}, false, 0, 0},
		{"bad table", cty.StringVal("p"), map[string]cty.Value{"bq_output": cty.StringVal("windows")}, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := cty.MapValEmpty(cty.String)
			if tc.params != nil {
				params = cty.MapVal(tc.params)
			}
			ctx := &hcl.EvalContext{Functions: tfFunctions(), Variables: map[string]cty.Value{
				"var": cty.ObjectVal(map[string]cty.Value{
					"project": cty.StringVal("p"), "bucket": cty.StringVal("b"), "worker_service_account_id": cty.StringVal("kmtrain-worker"),
					"datastore_project": tc.datastore, "parameters": params,
				}),
				"data": cty.ObjectVal(map[string]cty.Value{"google_project": cty.ObjectVal(map[string]cty.Value{
					"this": cty.ObjectVal(map[string]cty.Value{"number": cty.StringVal("123")})})}),
				"google_pubsub_subscription": cty.ObjectVal(map[string]cty.Value{
					"kmstream": cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal("projects/p/subscriptions/problemlogs-kmstream")})}),
			}}
			locals := map[string]cty.Value{}
			for _, name := range []string{"worker_email", "worker_member", "pubsub_agent", "parameters", "alert_topic", "bq_output"} {
				v, diags := c.locals[name].Expr.Value(ctx)
				if diags.HasErrors() {
					t.Fatalf("local.%s: %s", name, diags.Error())
				}
				locals[name] = v
				ctx.Variables["local"] = cty.ObjectVal(locals)
			}
			ok := true
			for _, cond := range conds {
				v, diags := cond.Value(ctx)
				if diags.HasErrors() {
					t.Fatalf("%s", diags.Error())
				}
				ok = ok && v.True()
			}
			if ok != tc.ok {
				t.Errorf("preconditions hold: %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			for r, want := range map[string]int64{"google_pubsub_topic_iam_member.worker_alerts": tc.alerts, "google_bigquery_dataset_iam_member.worker_bq_output": tc.bigquery} {
				v, diags := c.resource(t, r).Body.Attributes["count"].Expr.Value(ctx)
				if diags.HasErrors() {
					t.Fatalf("%s: %s", r, diags.Error())
				}
				if n, _ := v.AsBigFloat().Int64(); n != want {
					t.Errorf("%s: count %d, want %d", r, n, want)
				}
				if want == 0 {
					continue
				}
				scope := ""
				for _, attr := range []string{"project", "topic", "dataset_id", "member"} {
					if a := c.resource(t, r).Body.Attributes[attr]; a != nil {
						v, diags := a.Expr.Value(ctx)
						if diags.HasErrors() {
							t.Fatalf("%s.%s: %s", r, attr, diags.Error())
						}
						scope += attr + "=" + v.AsString() + " "
					}
				}
				if want := map[string]string{
					"google_pubsub_topic_iam_member.worker_alerts":        "project=ops topic=alerts member=serviceAccount:kmtrain-worker@p.iam.gserviceaccount.com ",
					"google_bigquery_dataset_iam_member.worker_bq_output": "project=ana dataset_id=live member=serviceAccount:kmtrain-worker@p.iam.gserviceaccount.com ",
				}[r]; scope != want {
					t.Errorf("%s: %s, want %s", r, scope, want)
				}
			}
		})
	}
}
