package dsemulator

// Pid returns the emulator's process id.
func Pid(e *Emulator) int { return e.cmd.Process.Pid }
