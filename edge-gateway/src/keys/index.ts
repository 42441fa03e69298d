export { type ApiKeyQuote, apiKeyPayment, releaseApiKeyPayment } from "./api-key-payment.ts";
