// MQTT 5 over WebSocket with MQTT.js: subscribe, publish with user
// properties and a response topic, print what came back as JSON.
const mqtt = require("mqtt");
const url = process.argv[2];
const c = mqtt.connect(url, { protocolVersion: 5, clientId: "mqttjs-" + process.pid, clean: true, reconnectPeriod: 0 });
const fail = (why) => { console.error(why); process.exit(1); };
setTimeout(() => fail("timeout"), 10000);
c.on("error", (e) => fail("error: " + e.message));
c.on("connect", (ack) => {
  c.subscribe("js/+", { qos: 1 }, (err) => {
    if (err) fail("subscribe: " + err.message);
    c.publish("js/x", "from mqtt.js", { qos: 1, properties: { userProperties: { k: ["a", "b"] }, responseTopic: "js/reply", contentType: "text/plain" } });
  });
});
c.on("message", (topic, payload, packet) => {
  console.log(JSON.stringify({ topic, payload: payload.toString(), qos: packet.qos, props: packet.properties }));
  c.end(false, () => process.exit(0));
});
