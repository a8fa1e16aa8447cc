variable "project" {
  type        = string
  description = "The project of the topic, the subscription and the job."
}

variable "region" {
  type        = string
  default     = "us-central1"
  description = "Dataflow region of the job."
}

variable "bucket" {
  type        = string
  description = "Bucket of the template's staging and temp files and of the stream's output (gs://BUCKET/kmstream)."
}

variable "template_gcs_path" {
  type        = string
  description = "The streaming Flex Template spec (make -C deploy stream-template), e.g. gs://BUCKET/templates/kmstream.json."
}

variable "worker_service_account_id" {
  type        = string
  default     = "kmtrain-worker"
  description = "Account id of the worker service account the job runs as (the one ../ creates)."
}

variable "topic" {
  type        = string
  default     = "problemlogs"
  description = "The topic ProblemLogs are published to; its dead-letter topic is TOPIC-dead-letter."
}

variable "subscription" {
  type        = string
  default     = "problemlogs-kmstream"
  description = "The job's subscription to the topic."
}

variable "max_delivery_attempts" {
  type        = number
  default     = 10
  description = "Deliveries of a message before Pub/Sub moves it to the dead-letter topic (5 to 100)."
}

variable "job_name" {
  type        = string
  default     = "kmstream"
  description = "Name of the streaming job; an apply with changed parameters updates the job of this name."
}

variable "datastore_project" {
  type        = string
  default     = null
  description = "Score with the version current in Datastore in this project (else give parameters.model)."
}

variable "parameters" {
  type        = map(string)
  default     = {}
  description = "Other kmstream parameters (deploy/kmstream-metadata.json), e.g. { window = \"1h\", alert_topic = \"projects/P/topics/T\" }."
}

variable "machine_type" {
  type        = string
  default     = "n2-standard-2"
  description = "Worker machine type."
}

variable "max_workers" {
  type        = number
  default     = 5
  description = "Most workers autoscaling may use."
}
