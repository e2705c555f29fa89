package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/brokerd/brokerd/control"
	"github.com/brokerd/brokerd/state"
)

func (e *env) credentialProcessCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "credential-process PROFILE",
		Short: "Print a profile's credentials for the credential_process setting of ~/.aws/config",
		Long: "Print a profile's credentials, fetched from the running daemon, in the credential_process format, so that\n" +
			"a profile such as\n\n  [profile prod-cli]\n  credential_process = brokerd credential-process prod\n\n" +
			"lets AWS_PROFILE=prod-cli select the role of profile prod.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vars, err := e.endpointVars(args)
			if err != nil {
				return err
			}
			out, err := fetchCredentials(cmd.Context(), vars[0][1], vars[1][1])
			if errors.Is(err, syscall.ECONNREFUSED) {
				// The endpoint file of a daemon that crashed, or was
				// killed, stays: nothing listens at its address.
				if in := e.installed(); in.Present {
					return serviceStopped(in)
				}
				return state.ErrNotRunning
			}
			if err != nil {
				return err
			}
			return json.NewEncoder(e.stdout).Encode(out)
		},
	}
}

// processCredentials is the credential_process output format.
type processCredentials struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken"`
	Expiration      string `json:"Expiration"`
	AccountID       string `json:"AccountId,omitempty"`
}

// fetchTimeout bounds credential-process's request, as an SDK's own.
const fetchTimeout = 10 * time.Second

// fetchCredentials gets credentials from the endpoint as an SDK does.
func fetchCredentials(ctx context.Context, url, tokenFile string) (processCredentials, error) {
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return processCredentials{}, fmt.Errorf("read the daemon's token: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return processCredentials{}, err
	}
	req.Header.Set("Authorization", string(token))
	resp, err := http.DefaultClient.Do(req)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return processCredentials{}, fmt.Errorf("%w: %s gave no answer within %s: the daemon may be stopped (Ctrl-Z, kill -STOP) or stuck: "+
			"see brokerd status and its log (journalctl --user -u brokerd; on macOS ~/Library/Logs/brokerd/), and restart it if it stays so",
			control.ErrNotAnswering, url, fetchTimeout)
	}
	if err != nil {
		return processCredentials{}, fmt.Errorf("reach brokerd: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return processCredentials{}, fmt.Errorf("read brokerd's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		if json.Unmarshal(body, &e) != nil || e.Message == "" {
			return processCredentials{}, fmt.Errorf("brokerd answered %s", resp.Status)
		}
		return processCredentials{}, errors.New(e.Message)
	}
	var c struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string `json:"SecretAccessKey"`
		Token           string `json:"Token"`
		Expiration      string `json:"Expiration"`
		AccountID       string `json:"AccountId"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return processCredentials{}, fmt.Errorf("read brokerd's answer: %w", err)
	}
	return processCredentials{Version: 1, AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey,
		SessionToken: c.Token, Expiration: c.Expiration, AccountID: c.AccountID}, nil
}
