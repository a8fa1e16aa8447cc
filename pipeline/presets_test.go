package pipeline

import (
	"reflect"
	"strings"
	"testing"
)

func TestPresetKhan2014IsDefaultOptions(t *testing.T) {
	o, err := Preset(PresetKhan2014)
	if err != nil {
		t.Fatal(err)
	}
	o.Preset = ""
	if want := DefaultOptions(); !reflect.DeepEqual(o, want) {
		t.Errorf("Preset(khan2014) = %+v, want DefaultOptions %+v", o, want)
	}
	for _, name := range PresetNames {
		if _, err := Preset(name); err != nil {
			t.Errorf("Preset(%q): %v", name, err)
		}
	}
	if _, err := Preset("khan"); err == nil || !strings.Contains(err.Error(), "khan2014") {
		t.Errorf("Preset(khan): %v, want an error naming the presets", err)
	}
}

func TestPresetBest(t *testing.T) {
	best, err := Preset(PresetBest)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := Preset(PresetDefault)
	if !best.ExtendedBest || def.ExtendedBest {
		t.Errorf("ExtendedBest: best %v, default %v; want true, false", best.ExtendedBest, def.ExtendedBest)
	}
	if s := best.Settings(); !s.L2ExtendedBest || s.Preset != PresetBest {
		t.Errorf("best's settings: %+v", s)
	}
	best.Preset, best.ExtendedBest = PresetDefault, false
	if !reflect.DeepEqual(best, def) {
		t.Errorf("best differs from default beyond ExtendedBest: %+v", best)
	}
}
