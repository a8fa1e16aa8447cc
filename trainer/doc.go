// Package trainer trains one exercise's thetas from the rows the replay
// produced, the same way in the pipeline and in tools that run without one.
//
// The replay emits an exercise's rows as RowBatches (compact: the
// ExerciseState packed, the KnowledgeState as the components it sums). A
// Collector gathers an exercise's batches in any number and order, keeps
// at most a cap of them chosen by sample key, and expands them into a
// train.Dataset in an order that depends only on their content, so the fit
// is the same bit for bit on any runner. FitExercise fits the Dataset with
// fixed penalties or with penalties chosen by cross-validation, and Train
// does all of it for one exercise, returning its model.ExerciseThetas or
// why it was skipped.
//
// The package knows nothing of Beam: transforms.TrainExercises runs it
// per exercise after a GroupByKey.
package trainer
