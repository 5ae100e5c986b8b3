package server

// RunMain is Main bounded by a context and with an explicit environment.
var RunMain = run
