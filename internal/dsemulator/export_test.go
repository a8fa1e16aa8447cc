package dsemulator

func Pid(e *Emulator) int { return e.Process.Pid() }
