// A Go consumer of the gateway: it calls the gateway through the client oapi-codegen generates from
// openapi/openapi.yaml (package gateway, git-ignored; `make consumers` generates it) and checks that
// each answer decodes into the generated types: the transfer, and its three siblings (operator,
// message.send, finish), each with a 200 and a 400 in that operation's own error type. Exit code 0: every check passed; 1: one failed.
//
//	go tool oapi-codegen -config oapi-codegen.yaml ../../openapi/openapi.yaml
//	GATEWAY_KEY=<key> go run . -url http://127.0.0.1:8080
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"bitrix24-transfer-gateway/consumers/go/gateway"
)

func main() {
	url := flag.String("url", envOr("GATEWAY_URL", "http://localhost:8080"), "the gateway's base URL (or GATEWAY_URL)")
	flag.Parse()
	key := os.Getenv("GATEWAY_KEY")

	failures := run(*url, key)
	if failures > 0 {
		fmt.Fprintf(os.Stderr, "go consumer: %d check(s) failed\n", failures)
		os.Exit(1)
	}
	fmt.Println("go consumer: all checks passed")
}

func run(url, key string) (failures int) {
	check := func(name string, err error) {
		if err != nil {
			failures++
			fmt.Printf("FAIL %s: %v\n", name, err)
			return
		}
		fmt.Printf("ok   %s\n", name)
	}

	httpClient := &http.Client{Timeout: 10 * time.Second}
	// The gateway API key travels as "Authorization: Bearer <key>" (security scheme GatewayApiKey).
	bearer := func(_ context.Context, req *http.Request) error {
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		return nil
	}
	client, err := gateway.NewClientWithResponses(url, gateway.WithHTTPClient(httpClient), gateway.WithRequestEditorFn(bearer))
	if err != nil {
		check("create the client", err)
		return failures
	}
	anonymous, err := gateway.NewClientWithResponses(url, gateway.WithHTTPClient(httpClient))
	if err != nil {
		check("create the client without a key", err)
		return failures
	}
	ctx := context.Background()

	check("200: transfer chat 112 to user 12 → TransferResult{Result: true}", func() error {
		userID := gateway.Id(12)
		res, err := client.TransferSessionWithResponse(ctx, nil, gateway.TransferRequest{CHATID: 112, USERID: &userID})
		if err != nil {
			return err
		}
		if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
			return unexpected(res.StatusCode(), res.Body)
		}
		var result gateway.TransferResult = *res.JSON200
		if !result.Result {
			return fmt.Errorf("result is false: %s", res.Body)
		}
		if result.Time.DateStart.IsZero() || result.Time.DateFinish.Before(result.Time.DateStart) || result.Time.Start <= 0 {
			return fmt.Errorf("time is not a decoded Time: %+v", result.Time)
		}
		return nil
	}())

	check("400: no destination → Error400{Error: TRANSFERIDEMPTY}", func() error {
		res, err := client.TransferSessionWithResponse(ctx, nil, gateway.TransferRequest{CHATID: 112})
		if err != nil {
			return err
		}
		if res.StatusCode() != http.StatusBadRequest || res.JSON400 == nil {
			return unexpected(res.StatusCode(), res.Body)
		}
		var body gateway.Error400 = *res.JSON400
		if body.Error != gateway.TRANSFERIDEMPTY || !body.Error.Valid() || body.ErrorDescription == "" {
			return fmt.Errorf("got %+v", body)
		}
		return nil
	}())

	check("400: Bitrix24's BOT_ID_ERROR, relayed (emulator test value CHAT_ID 4001) → Error400{Error: BOTIDERROR}", func() error {
		userID := gateway.Id(12)
		res, err := client.TransferSessionWithResponse(ctx, nil, gateway.TransferRequest{CHATID: 4001, USERID: &userID})
		if err != nil {
			return err
		}
		if res.StatusCode() != http.StatusBadRequest || res.JSON400 == nil {
			return unexpected(res.StatusCode(), res.Body)
		}
		if res.JSON400.Error != gateway.BOTIDERROR {
			return fmt.Errorf("got %+v", *res.JSON400)
		}
		return nil
	}())

	// The transfer's three siblings: each answers its own result type and its own 400 type, whose
	// constants carry the operation's prefix (x-enum-varnames), so Error400's stay short.
	check("200: operator for chat 112 → OperatorResult{Result: true}", func() error {
		res, err := client.OperatorSessionWithResponse(ctx, nil, gateway.OperatorRequest{CHATID: 112})
		if err != nil {
			return err
		}
		if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
			return unexpected(res.StatusCode(), res.Body)
		}
		var result gateway.OperatorResult = *res.JSON200
		if result.Result != gateway.OperatorResultResultTrue || result.Time.DateStart.IsZero() {
			return fmt.Errorf("got %+v", result)
		}
		return nil
	}())

	check("400: Bitrix24's WRONG_CHAT, relayed (emulator test value CHAT_ID 4003) → OperatorError400{Error: OperatorWRONGCHAT}", func() error {
		res, err := client.OperatorSessionWithResponse(ctx, nil, gateway.OperatorRequest{CHATID: 4003})
		if err != nil {
			return err
		}
		if res.StatusCode() != http.StatusBadRequest || res.JSON400 == nil {
			return unexpected(res.StatusCode(), res.Body)
		}
		var body gateway.OperatorError400 = *res.JSON400
		if body.Error != gateway.OperatorWRONGCHAT || body.ErrorDescription == "" {
			return fmt.Errorf("got %+v", body)
		}
		return nil
	}())

	check("200: message.send NAME=DEFAULT with a MESSAGE to chat 112 → MessageSendResult{Result: true}", func() error {
		message := "Hello from Go"
		res, err := client.SendSessionMessageWithResponse(ctx, nil, gateway.MessageSendRequest{CHATID: 112, NAME: gateway.DEFAULT, MESSAGE: &message})
		if err != nil {
			return err
		}
		if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
			return unexpected(res.StatusCode(), res.Body)
		}
		var result gateway.MessageSendResult = *res.JSON200
		if result.Result != gateway.MessageSendResultResultTrue || result.Time.DateStart.IsZero() {
			return fmt.Errorf("got %+v", result)
		}
		return nil
	}())

	check("400: message.send NAME=DEFAULT without MESSAGE, refused by the gateway → MessageSendError400{Error: MessageSendINVALIDPARAMETER}", func() error {
		res, err := client.SendSessionMessageWithResponse(ctx, nil, gateway.MessageSendRequest{CHATID: 112, NAME: gateway.DEFAULT})
		if err != nil {
			return err
		}
		if res.StatusCode() != http.StatusBadRequest || res.JSON400 == nil {
			return unexpected(res.StatusCode(), res.Body)
		}
		var body gateway.MessageSendError400 = *res.JSON400
		if body.Error != gateway.MessageSendINVALIDPARAMETER || body.ErrorDescription == "" {
			return fmt.Errorf("got %+v", body)
		}
		return nil
	}())

	check("200: finish chat 112 → FinishResult{Result: true}", func() error {
		res, err := client.FinishSessionWithResponse(ctx, nil, gateway.FinishRequest{CHATID: 112})
		if err != nil {
			return err
		}
		if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
			return unexpected(res.StatusCode(), res.Body)
		}
		var result gateway.FinishResult = *res.JSON200
		if result.Result != gateway.FinishResultResultTrue || result.Time.DateStart.IsZero() {
			return fmt.Errorf("got %+v", result)
		}
		return nil
	}())

	check("400: Bitrix24's BOT_ID_ERROR, relayed (emulator test value CHAT_ID 4001) → FinishError400{Error: FinishBOTIDERROR}", func() error {
		res, err := client.FinishSessionWithResponse(ctx, nil, gateway.FinishRequest{CHATID: 4001})
		if err != nil {
			return err
		}
		if res.StatusCode() != http.StatusBadRequest || res.JSON400 == nil {
			return unexpected(res.StatusCode(), res.Body)
		}
		var body gateway.FinishError400 = *res.JSON400
		if body.Error != gateway.FinishBOTIDERROR || body.ErrorDescription == "" {
			return fmt.Errorf("got %+v", body)
		}
		return nil
	}())

	check("200 twice: message.send retried with one Idempotency-Key → the second is the first, Idempotent-Replayed: true", func() error {
		idempotencyKey := fmt.Sprintf("go-consumer-%d-%d", os.Getpid(), time.Now().UnixNano())
		params := &gateway.SendSessionMessageParams{IdempotencyKey: &idempotencyKey}
		message := "Sent once"
		var answers []*gateway.SendSessionMessageResponse
		for range 2 {
			res, err := client.SendSessionMessageWithResponse(ctx, params, gateway.MessageSendRequest{CHATID: 112, NAME: gateway.DEFAULT, MESSAGE: &message})
			if err != nil {
				return err
			}
			if res.StatusCode() != http.StatusOK || res.JSON200 == nil {
				return unexpected(res.StatusCode(), res.Body)
			}
			answers = append(answers, res)
		}
		if string(answers[0].Body) != string(answers[1].Body) {
			return fmt.Errorf("the replay differs: %s, %s", answers[0].Body, answers[1].Body)
		}
		if answers[0].HTTPResponse.Header.Get("Idempotent-Replayed") != "" || answers[1].HTTPResponse.Header.Get("Idempotent-Replayed") != "true" {
			return fmt.Errorf("Idempotent-Replayed: %q, %q", answers[0].HTTPResponse.Header.Get("Idempotent-Replayed"), answers[1].HTTPResponse.Header.Get("Idempotent-Replayed"))
		}
		return nil
	}())

	if key == "" {
		fmt.Println("skip 401: no API key → GATEWAY_AUTH_REQUIRED (set GATEWAY_KEY for a gateway that requires keys)")
		return failures
	}
	check("401: no API key → Error401{Error: GATEWAYAUTHREQUIRED}", func() error {
		userID := gateway.Id(12)
		res, err := anonymous.TransferSessionWithResponse(ctx, nil, gateway.TransferRequest{CHATID: 112, USERID: &userID})
		if err != nil {
			return err
		}
		if res.StatusCode() != http.StatusUnauthorized || res.JSON401 == nil {
			return unexpected(res.StatusCode(), res.Body)
		}
		if res.JSON401.Error != gateway.GATEWAYAUTHREQUIRED {
			return fmt.Errorf("got %+v", *res.JSON401)
		}
		return nil
	}())

	return failures
}

func unexpected(status int, body []byte) error {
	return fmt.Errorf("unexpected answer %d %s", status, body)
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
