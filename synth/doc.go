// Package synth generates realistic ProblemLogs from planted thetas, so that
// a training pipeline can be checked to recover them.
//
// A Generator plants, for every exercise, the 107 thetas of Khan Academy's
// 2014 knowledge model with a plausible structure: the bias sets the
// exercise's difficulty, the ExerciseState weights reward a good recent
// history (ewma, streak, percent correct) and penalise misses, and small
// KnowledgeState weights make a student's first answers on the exercise's
// prerequisites matter. It then simulates students: each starts a few
// exercises, roughly in curriculum order, works through them in visits of a
// few problems, switches between exercises and comes back later, until a
// streak shows mastery, patience runs out, or the exercise is abandoned.
//
// Every answer is drawn from the model itself: before each attempt the
// student's features are computed with features.Student, exactly as a
// training replay computes them, and the answer is correct with probability
// sigmoid(θ·x). A replay of the generated logs therefore yields rows whose
// labels follow the planted model exactly, and a maximum-likelihood fit of
// them converges to the planted thetas.
//
// Generation is deterministic (the same Config gives the same logs, byte for
// byte), streaming (logs go to a callback as they are drawn, so the number of
// logs is bounded by time, not memory), and each student draws from a
// random stream of its own, so the first n students of a run do not depend
// on how many follow.
//
// CSVWriter writes logs in the CSV layout of a BigQuery export, optionally
// with extra columns and with a fraction of malformed lines for testing
// readers; Generator.Thetas returns the planted thetas as model.ExerciseThetas
// records of version "planted" (model.WriteThetasJSONL writes them).
//
// This package knows nothing of Beam or of any cloud service.
package synth
