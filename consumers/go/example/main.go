// The README's Go example, as written there: consumers/run.ts runs it against a real gateway
// (GATEWAY_URL, GATEWAY_KEY) with `go run ./example`, after oapi-codegen has generated package gateway.
package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"bitrix24-transfer-gateway/consumers/go/gateway"
)

func main() {
	ctx := context.Background()
	url := os.Getenv("GATEWAY_URL")
	if url == "" {
		url = "http://localhost:8080"
	}
	bearer := func(_ context.Context, req *http.Request) error {
		if key := os.Getenv("GATEWAY_KEY"); key != "" { // a gateway without keys (make start) takes none
			req.Header.Set("Authorization", "Bearer "+key)
		}
		return nil
	}
	client, err := gateway.NewClientWithResponses(url, gateway.WithRequestEditorFn(bearer))
	if err != nil {
		log.Fatal(err)
	}
	userID := gateway.Id(12)
	// Safe to retry with the same key: the gateway never sends its transfer twice.
	key := fmt.Sprintf("transfer-112-%d", time.Now().UnixNano())
	params := &gateway.TransferSessionParams{IdempotencyKey: &key}
	res, err := client.TransferSessionWithResponse(ctx, params, gateway.TransferRequest{CHATID: 112, USERID: &userID})
	if err != nil {
		log.Fatal(err)
	}
	switch {
	case res.JSON200 != nil:
		fmt.Println(res.JSON200.Result, res.JSON200.Time.DateStart) // true, a time.Time
	case res.JSON400 != nil && res.JSON400.Error == gateway.TRANSFERIDEMPTY: // a typed enum constant
		fmt.Println(res.JSON400.ErrorDescription)
	default:
		log.Fatalf("unexpected answer %d: %s", res.StatusCode(), res.Body)
	}
}
