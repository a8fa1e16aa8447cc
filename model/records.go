package model

import "github.com/kmtrain/knowledgemodel/features"

// Records are one version of the model as every store holds it (an output
// directory, Datastore): what package predict makes a model of.
type Records struct {
	// Version is the version id.
	Version string
	// ComponentKey names what the components are keyed by
	// (Settings.ComponentKey of the version's Summary); empty is Khan's.
	ComponentKey string
	// Thetas are the version's thetas, one per exercise trained.
	Thetas []ExerciseThetas
	// Components is the components table the thetas were trained with.
	Components []features.Component
	// HeldOut is the mean log-likelihood per exercise on the attempts the
	// version's training run held out (Summary.HeldOut); nil when it held
	// none out.
	HeldOut map[string]float64
}
