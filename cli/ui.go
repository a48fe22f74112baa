package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cli/browser"
	"github.com/spf13/cobra"

	"github.com/flagops/flagops/web"
)

func (a *app) uiCommand() *cobra.Command {
	var noOpen bool
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Print (and open) a one-time sign-in link to the web UI",
		Long: `Ui asks the server for a one-time sign-in link to its web UI for the key
the CLI uses (--token, else the local admin's token in the data directory's
admin.token), prints it and tries to open it in a browser.

The link signs in once, within five minutes, to a session of that same key:
making one needs the key itself, so on the server's machine it needs read
access to the data directory. Anyone may instead open the server's URL and
paste an API key.`,
		Example: `  flagops ui
  flagops ui --server https://flagops.example.com --token "$FLAGOPS_TOKEN" --no-open`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token := a.resolveToken()
			if token == "" {
				return usagef("no API key: pass --token (or FLAGOPS_TOKEN), or run where the server's data directory (FLAGOPS_DATA_DIR) holds %s", "admin.token")
			}
			base := strings.TrimRight(a.server, "/")
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, base+web.PatternMintSignin[len("POST "):], nil)
			if err != nil {
				return fmt.Errorf("ui: %w", err)
			}
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http1Client().Do(req)
			if err != nil {
				return fmt.Errorf("ui: ask %s for a sign-in link: %w", base, err)
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
				return fmt.Errorf("ui: the server refused a sign-in link: %s: %s", res.Status, strings.TrimSpace(string(b)))
			}
			var sc web.SigninCode
			if err := json.NewDecoder(res.Body).Decode(&sc); err != nil {
				return fmt.Errorf("ui: read the server's answer: %w", err)
			}
			link := base + sc.Path
			fmt.Fprintf(a.stdout, "Open this link to sign in (once, before %s):\n\n    %s\n\n", sc.Expires.Local().Format("15:04:05"), link)
			if !noOpen {
				browser.Stdout, browser.Stderr = io.Discard, io.Discard
				if err := browser.OpenURL(link); err != nil {
					fmt.Fprintln(a.stderr, "(could not open a browser; open the link yourself)")
				}
			}
			return nil
		},
	}
	a.addClientFlags(cmd)
	cmd.Flags().BoolVar(&noOpen, "no-open", false, "print the link without opening a browser")
	return cmd
}
