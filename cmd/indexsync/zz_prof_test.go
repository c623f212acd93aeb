package main

import (
	"context"
	"os"
	"runtime/pprof"
	"strings"
	"testing"
)

func TestZZProfile(t *testing.T) {
	args := os.Getenv("ZZ_ARGS")
	if args == "" {
		t.Skip()
	}
	f, _ := os.Create(os.Getenv("ZZ_PROF"))
	pprof.StartCPUProfile(f)
	var out, errb strings.Builder
	code := run(context.Background(), strings.Fields(args), &out, &errb)
	pprof.StopCPUProfile()
	f.Close()
	t.Logf("exit %d\n%s\n%s", code, out.String(), errb.String())
}
