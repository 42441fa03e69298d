export {
  type ApiKeyQuote,
  acknowledgeApiKey,
  apiKeyPayment,
  releaseApiKeyPayment,
} from "./api-key-payment.ts";
