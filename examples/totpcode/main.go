// Command totpcode prints the current TOTP code of a base32 secret (RFC
// 6238: SHA-1, 30 seconds, 6 digits), as an authenticator app would show
// it. The README's walk-through uses it in place of a phone.
//
//	go run ./examples/totpcode JBSWY3DPEHPK3PXP
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/pquerna/otp/totp"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: totpcode SECRET")
		os.Exit(2)
	}
	code, err := totp.GenerateCode(os.Args[1], time.Now())
	if err != nil {
		fmt.Fprintln(os.Stderr, "totpcode: the secret is not base32")
		os.Exit(2)
	}
	fmt.Println(code)
}
