/**
 * Test helpers other workspaces reuse: a tiny real ONNX model with its descriptor and
 * reference output, a hostile model whose weight names a file (external data), one whose
 * run allocates as much memory as its shape says (`expandSumModel`), and a
 * loopback gateway that speaks the agent link protocol.
 * (Text rendering for OCR tests is `@ncn/agent/testing/render-text`.)
 */
export {
  type ExternalDataModelOptions,
  externalDataModelBytes,
  externalDataModelDescriptor,
} from "./external-data-model.ts";
export { expandSumModel } from "./limit-models.ts";
export { type ReceivedFrame, TestGateway, type TestGatewayOptions } from "./test-gateway.ts";
export {
  TINY_WEIGHTS,
  type TinyModelOptions,
  tinyModelBytes,
  tinyModelDescriptor,
  tinyModelReference,
} from "./tiny-model.ts";
