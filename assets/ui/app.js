// The share page: a form in front of POST /api/v1/.../download_tempurls.
"use strict";
const form = document.getElementById("share");
const s3only = document.querySelector(".s3only");
const error = document.getElementById("error");
const result = document.getElementById("result");
const link = document.getElementById("link");

form.addEventListener("change", () => {
  s3only.hidden = form.urlType.value !== "s3";
});

function seconds() {
  const n = (name) => Math.max(0, parseInt(form[name].value || "0", 10) || 0);
  return n("days") * 86400 + n("hours") * 3600 + n("minutes") * 60;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  result.hidden = true;
  const object = form.object.value;
  const path = ["projects", form.project.value, "containers", form.container.value, "objects"]
    .map(encodeURIComponent).join("/") + "/" + object.split("/").map(encodeURIComponent).join("/");
  const body = { timeExpire: seconds(), urlType: form.urlType.value, viewMode: form.viewMode.value };
  if (body.urlType === "s3") {
    body.accessKey = form.accessKey.value;
    body.secretKey = form.secretKey.value;
  }
  try {
    const response = await fetch("../../api/v1/" + path + "/download_tempurls", {
      method: "POST",
      headers: { "Authorization": "Bearer " + form.token.value, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!answer.success) throw new Error(answer.errorMsg || ("HTTP " + response.status));
    link.value = answer.data[object];
    result.hidden = false;
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  }
});

document.getElementById("copy").addEventListener("click", () => {
  navigator.clipboard.writeText(link.value);
});
