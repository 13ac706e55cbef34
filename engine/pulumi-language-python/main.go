// pulumi-language-python: the part of Pulumi's Python language host that
// `pulumi preview`, `up` and `destroy` need.
//
// Why this exists: the upstream host lives in its own Go module
// (sdk/python/cmd/pulumi-language-python), which the module proxy reachable from
// our machines does not serve, while the pulumi CLI, the SDK module and the
// SDK's own program runner (pulumi-language-python-exec) are served. This host
// speaks the engine's LanguageRuntime protocol and hands the program to that
// runner, exactly as the upstream host does; everything it does not implement
// answers Unimplemented, which the engine treats as "not supported".
// scripts/install-pulumi builds it only when no official release can be fetched.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is stamped by the install script with the pulumi SDK version it pairs with.
var version = "0.0.0-dev"

// exitedAfterUserMessage is the runner's exit code for "an error was already shown".
const exitedAfterUserMessage = 32

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
	runner        string // path of pulumi-language-python-exec
}

func main() {
	flags := flag.NewFlagSet("pulumi-language-python", flag.ContinueOnError)
	// Flags the engine may pass to any plugin; accepted and ignored.
	flags.String("tracing", "", "")
	flags.Bool("logtostderr", false, "")
	flags.Bool("logflow", false, "")
	flags.Int("v", 0, "")
	flags.String("root", "", "")
	if err := flags.Parse(os.Args[1:]); err != nil {
		fail(err)
	}
	if flags.NArg() < 1 {
		fail(errors.New("missing the engine address argument"))
	}
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	runner := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
	if _, err := os.Stat(runner); err != nil {
		fail(fmt.Errorf("program runner not found beside the host: %w", err))
	}

	host := &languageHost{engineAddress: flags.Arg(0), runner: runner}
	watchEngine(host.engineAddress)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fail(err)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fail(err)
	}
}

// watchEngine exits the host once the engine that started it is gone, as upstream plugins do
// (a graceful stop would wait for a Run whose program nobody waits for any more): at once when
// the process that started us dies and we are re-parented, otherwise when the engine stops
// answering its health check. The program and plugins we started die with us (Pdeathsig).
func watchEngine(engineAddress string) {
	ctx, cancel := context.WithCancel(context.Background())
	parent := os.Getppid()
	go func() {
		for ctx.Err() == nil && os.Getppid() == parent {
			time.Sleep(time.Second)
		}
		cancel()
	}()
	if err := rpcutil.Healthcheck(ctx, engineAddress, 30*time.Second, cancel); err != nil {
		fail(err)
	}
	go func() {
		<-ctx.Done()
		fail(errors.New("the engine is gone; exiting"))
	}()
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
	os.Exit(1)
}

func (h *languageHost) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(ctx context.Context, _ *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// python picks the interpreter the way the upstream host does for the
// `virtualenv` runtime option (relative to the program's or plugin's root):
// the venv's python when set, else python3.
func python(info *pulumirpc.ProgramInfo) string {
	venv := ""
	if opts := info.GetOptions(); opts != nil {
		if v, ok := opts.AsMap()["virtualenv"].(string); ok {
			venv = v
		}
	}
	if venv == "" {
		if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
			return cmd
		}
		return "python3"
	}
	if !filepath.IsAbs(venv) {
		venv = filepath.Join(info.GetRootDirectory(), venv)
	}
	return filepath.Join(venv, "bin", "python")
}

func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	interpreter := python(req.GetInfo())
	if _, err := exec.LookPath(interpreter); err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf(
			"python interpreter %q not found (create the virtualenv named in Pulumi.yaml and "+
				"pip install -r requirements.txt into it): %v", interpreter, err)}, nil
	}

	args := []string{"-u", h.runner,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--organization", req.GetOrganization(),
		"--root_directory", req.GetInfo().GetRootDirectory(),
		req.GetInfo().GetEntryPoint(),
	}
	args = append(args, req.GetArgs()...)

	// A stack without config still gets {} and [], not null: the runner iterates them.
	configMap, secretKeyList := req.GetConfig(), req.GetConfigSecretKeys()
	if configMap == nil {
		configMap = map[string]string{}
	}
	if secretKeyList == nil {
		secretKeyList = []string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(secretKeyList)
	if err != nil {
		return nil, err
	}

	cmd := exec.CommandContext(ctx, interpreter, args...)
	// The engine ends a failed update by interrupting the host's process group.
	// The program gets no share of that SIGINT, which would make Python print a
	// KeyboardInterrupt traceback over the real error; it is killed with the host instead.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Dir = req.GetPwd()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
	)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == exitedAfterUserMessage {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// RunPlugin runs a plugin written in Python: here, a policy pack. Its venv is
// the `virtualenv` option of its PulumiPolicy.yaml; its output is streamed back,
// since the engine reads the analyzer's port from its stdout.
func (h *languageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	if req.GetKind() != "analyzer" {
		return fmt.Errorf("python plugins of kind %q are not supported by this host (only policy packs)", req.GetKind())
	}
	args := append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
	args = append(args, req.GetInfo().GetProgramDirectory())
	cmd := exec.CommandContext(server.Context(), python(req.GetInfo()), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Dir = req.GetPwd()
	cmd.Env = req.GetEnv()
	if len(cmd.Env) == 0 {
		cmd.Env = os.Environ()
	}

	var sending sync.Mutex
	send := func(response *pulumirpc.RunPluginResponse) error {
		sending.Lock()
		defer sending.Unlock()
		return server.Send(response)
	}
	stream := func(pipe io.Reader, wrap func([]byte) *pulumirpc.RunPluginResponse, done *sync.WaitGroup) {
		defer done.Done()
		buffer := make([]byte, 32*1024)
		for {
			n, err := pipe.Read(buffer)
			if n > 0 {
				if send(wrap(append([]byte(nil), buffer[:n]...))) != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var done sync.WaitGroup
	done.Add(2)
	go stream(stdout, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}}
	}, &done)
	go stream(stderr, func(b []byte) *pulumirpc.RunPluginResponse {
		return &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}}
	}, &done)
	done.Wait()

	code := 0
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return err
		}
		code = exitErr.ExitCode()
	}
	return send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
}
