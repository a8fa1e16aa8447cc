package chromium

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB whose Skipf and Fatalf are recorded.
type recorder struct {
	*testing.T
	skipped, failed bool
	msg             string
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func findWith(t *testing.T) *recorder {
	r := &recorder{T: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Find(r)
	}()
	<-done
	return r
}

// TestMissing checks that a hidden browser skips, or fails with
// KMTRAIN_REQUIRE_EXTERNAL=1, with a message saying how to install it.
func TestMissing(t *testing.T) {
	for _, hide := range []string{"off", filepath.Join(t.TempDir(), "no-such-chromium")} {
		t.Setenv(EnvChromium, hide)
		t.Setenv(EnvRequire, "")
		if r := findWith(t); !r.skipped || !strings.Contains(r.msg, "apt-get install chromium") {
			t.Errorf("%s=%s: skipped=%v failed=%v %q", EnvChromium, hide, r.skipped, r.failed, r.msg)
		}
		t.Setenv(EnvRequire, "1")
		if r := findWith(t); !r.failed || !strings.Contains(r.msg, EnvRequire) {
			t.Errorf("%s=%s, %s=1: skipped=%v failed=%v %q", EnvChromium, hide, EnvRequire, r.skipped, r.failed, r.msg)
		}
	}
}

// TestRender renders a page with a red square and a script, and checks the
// dumped DOM (the script ran) and the screenshot (its size, the square).
func TestRender(t *testing.T) {
	bin := Find(t)
	page := filepath.Join(t.TempDir(), "page with space.html")
	const html = `<!doctype html><html><body style="margin:0;background:#fff">` +
		`<div id="sq" style="position:absolute;left:10px;top:20px;width:50px;height:40px;background:#ff0000"></div>` +
		`<script>document.body.setAttribute("data-done", String(document.getElementById("sq").getBoundingClientRect().width))</script>` +
		`</body></html>`
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	dom, err := DumpDOM(ctx, bin, page, 300, 200)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dom, `data-done="50"`) {
		t.Errorf("DumpDOM: the script's attribute is missing:\n%s", dom)
	}
	shot, err := Screenshot(ctx, bin, page, 300, 200)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 300 || b.Dy() != 200 {
		t.Errorf("screenshot is %v, want 300×200", b)
	}
	red := 0
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if r>>8 > 240 && g>>8 < 16 && b>>8 < 16 {
				red++
				if x < 10 || x >= 60 || y < 20 || y >= 60 {
					t.Fatalf("red pixel at (%d,%d), outside the square", x, y)
				}
			}
		}
	}
	if red != 50*40 {
		t.Errorf("%d red pixels, want %d", red, 50*40)
	}
}

// TestTimeout checks that a context that ends stops the browser with an
// error instead of hanging.
func TestTimeout(t *testing.T) {
	bin := Find(t)
	page := filepath.Join(t.TempDir(), "p.html")
	if err := os.WriteFile(page, []byte("<p>x</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := DumpDOM(ctx, bin, page, 0, 0); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("DumpDOM with an expired context: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to give up", d)
	}
}

func TestFileURL(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a b#c.html")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	u, err := FileURL(p)
	if err != nil || !strings.HasPrefix(u, "file:///") || !strings.HasSuffix(u, "/a%20b%23c.html") {
		t.Errorf("FileURL(%q) = %q, %v", p, u, err)
	}
	if _, err := FileURL(filepath.Join(dir, "missing.html")); err == nil {
		t.Error("FileURL of a missing file: no error")
	}
	if u, _ := FileURL("file:///x.html"); u != "file:///x.html" {
		t.Errorf("FileURL of a URL = %q", u)
	}
}

// TestLingeringHelper runs a browser whose main process exits after
// printing the DOM but leaves a helper (as crashpad or a zygote may) in its
// process group holding stdout and stderr: the DOM comes back, and the
// helper is killed, instead of the call waiting on the pipes until its
// deadline.
func TestLingeringHelper(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-chromium")
	script := "#!/bin/sh\nsleep 120 &\necho '<html><body>ok</body></html>'\nexit 0\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "p.html")
	if err := os.WriteFile(page, []byte("<p>x</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dom, err := DumpDOM(ctx, bin, page, 0, 0)
	if err != nil || !strings.Contains(dom, "ok") {
		t.Fatalf("DumpDOM = %.60q, %v; want the DOM", dom, err)
	}
}
