// Labels in zh-CN (default) and English. Every visible string of the app lives here.
const zh = {
  username: "用户名", password: "密码", signIn: "登录", signOut: "退出登录", language: "语言",
  signInTitle: "贷后现场检查", sessionExpired: "登录已过期，请重新输入密码（待同步的数据不受影响）",
  badLogin: "用户名或密码错误", offlineLogin: "离线时无法登录，请联网后再试",
  visits: "今日任务", outbox: "待同步", review: "审核", tasks: "跟进任务",
  downloadOffline: "下载离线使用", downloaded: "已下载 {n} 项检查，可离线使用",
  noVisits: "暂无检查任务", due: "应检查日期", overdue: "已逾期", returned: "已退回",
  distance: "距离 {d}", status: { scheduled: "待检查", in_progress: "检查中", submitted: "已提交", approved: "已通过", returned: "已退回", cancelled: "已取消" },
  borrower: "借款企业", declared: "申报数据", previous: "上次检查", none: "无", site: "申报地址",
  checkIn: "签到定位", checkedIn: "已签到：精度 {a} 米，距申报地址 {d}", poorFix: "定位精度较差（{a} 米），请到开阔处重试",
  farFromSite: "距申报地址 {d}，请确认是否在现场", noGeo: "无法获取定位：{e}",
  notes: "备注", saveDraft: "保存草稿", draftSaved: "草稿已保存", submit: "提交",
  submitted: "已放入待同步队列", required: "此项必填", tooLow: "不能小于 {n}", tooHigh: "不能大于 {n}", needPhotos: "至少需要 {n} 张照片",
  photo: "照片", photos: "现场照片", photosAdded: "已添加 {n} 张", yes: "是", no: "否", reviewComment: "审核意见",
  syncNow: "立即同步", syncing: "同步中…", syncDone: "同步完成", nothingToSync: "没有待同步的数据",
  state: { waiting: "等待上传", uploading: "上传中", done: "已完成", failed: "失败" },
  partsRefused: "{n} 项被服务器拒收，尚未同步：原因见下方", partsWaiting: "{n} 项等待上传，尚未同步",
  networkError: "网络不通：联网后会自动重新上传",
  unsentTitle: "还有未同步的数据", unsentBody: "本机还有 {n} 项尚未被服务器确认。退出后它们仍保存在本机，只有您本人登录后才能看到并继续上传；建议先同步。",
  signingIn: "正在登录…", downloading: "正在下载…", submitting: "正在提交…", saving: "正在保存…",
  needsFix: "被拒收：需修改", sending: "等待同步",
  takePhoto: "拍照", takeAnother: "再拍一张", photoCount: "{n}/{max} 张", onServer: "已在服务器", refusedPhoto: "服务器拒收",
  removePhoto: "删除照片", reviewerAsked: "审核要求修改此项", refusedItem: "服务器拒收了此项",
  fixItems: "有 {n} 处需要修改，已在下方标出", submission: "提交", returnedPrefilled: "已带出上次提交的答案和照片：只需修改标出的 {n} 项",
  refusedTitle: "服务器拒收了这次提交", refusedWhat: "答案和照片都还在本机。请修改下列项目后重新提交：",
  lockedDraft: "已提交，正在等待同步；服务器确认前本机保留全部内容。", serverError: "服务器暂时出错：稍后会自动重试",
  doReplacePhoto: "请打开这次检查，删除或重拍这张照片后重新提交", doFixItems: "请打开这次检查，修改标出的项目后重新提交",
  doContact: "请导出待同步数据并联系后台管理员", visitRefused: "被拒收", visitSynced: "已同步", openToFix: "打开并修改",
  cameraClock: "相机时间", byPhone: "手机记录", fromSite: "距申报地址 {d}", photoCountShort: "{n} 张照片", askToChange: "要求修改",
  photoState: { received: "已接收", processing: "处理中", processed: "已处理", failed: "处理失败" },
  photoPart: "照片", decision: "审核结论", taskDue: "整改期限", occurrences: "发现 {n} 次", problem: "出错了",
  syncFirst: "先同步", signOutAnyway: "仍然退出", cancel: "取消",
  storage: "已用存储 {u}，待同步 {n} 项", persisted: "已获得持久存储", notPersisted: "浏览器未授予持久存储：请将应用添加到主屏幕，并尽快同步",
  findings: "发现的问题", noFindings: "未发现问题", incomplete: "照片尚未全部上传", conflict: "冲突",
  approve: "通过", returnVisit: "退回", comment: "意见", queueEmpty: "没有待审核的检查",
  observed: "现场情况", declaredVsObserved: "申报与现场对比", map: "位置", checkInPoint: "签到位置", declaredPoint: "申报地址",
  takenAt: "拍摄时间", place: "拍摄地点", unknown: "未知", allStates: "全部状态", allSeverities: "全部等级", overdueOnly: "仅逾期",
  taskState: { open: "待处理", in_progress: "处理中", resolved: "已解决", waived: "已豁免" },
  severity: { critical: "严重", major: "重要", minor: "一般" },
  start: "开始处理", resolve: "确认解决", waive: "豁免", reason: "豁免理由", addComment: "添加意见",
  newVersion: "新版本已就绪", reload: "重新加载", online: "在线", offline: "离线",
  exportOutbox: "导出待同步数据", back: "返回", visit: "检查", item: "检查项", answer: "回答",
};
const en = {
  username: "Username", password: "Password", signIn: "Sign in", signOut: "Sign out", language: "Language",
  signInTitle: "Post-loan field inspection", sessionExpired: "Your session expired: enter your password again (unsynced work is kept)",
  badLogin: "Wrong username or password", offlineLogin: "Signing in needs a network; try again when online",
  visits: "Visits", outbox: "Outbox", review: "Review", tasks: "Tasks",
  downloadOffline: "Download for offline", downloaded: "{n} visits downloaded for offline use",
  noVisits: "No visits", due: "Due", overdue: "Overdue", returned: "Returned",
  distance: "{d} away", status: { scheduled: "Scheduled", in_progress: "In progress", submitted: "Submitted", approved: "Approved", returned: "Returned", cancelled: "Cancelled" },
  borrower: "Borrower", declared: "Declared data", previous: "Previous visit", none: "None", site: "Declared site",
  checkIn: "Check in", checkedIn: "Checked in: accuracy {a} m, {d} from the declared site", poorFix: "Poor fix ({a} m): try again in the open",
  farFromSite: "{d} from the declared site: are you on site?", noGeo: "No location: {e}",
  notes: "Notes", saveDraft: "Save draft", draftSaved: "Draft saved", submit: "Submit",
  submitted: "Queued in the outbox", required: "Required", tooLow: "At least {n}", tooHigh: "At most {n}", needPhotos: "At least {n} photo(s)",
  photo: "photo", photos: "Photos", photosAdded: "{n} added", yes: "Yes", no: "No", reviewComment: "Reviewer's comment",
  syncNow: "Sync now", syncing: "Syncing…", syncDone: "Synced", nothingToSync: "Nothing to sync",
  state: { waiting: "Waiting", uploading: "Uploading", done: "Done", failed: "Failed" },
  partsRefused: "{n} part(s) refused by the server, not synced: the reasons are below",
  partsWaiting: "{n} part(s) waiting to upload, not synced",
  networkError: "No network: it will upload again once you are online",
  unsentTitle: "Not everything is synced",
  unsentBody: "{n} part(s) on this phone are not yet confirmed by the server. They stay on the phone after you sign out, seen only by you, and upload when you sign in again; better sync them first.",
  signingIn: "Signing in…", downloading: "Downloading…", submitting: "Submitting…", saving: "Saving…",
  needsFix: "Refused: needs a fix", sending: "Waiting to sync",
  takePhoto: "Take photo", takeAnother: "Take another", photoCount: "{n}/{max}", onServer: "On the server", refusedPhoto: "refused by the server",
  removePhoto: "Remove photo", reviewerAsked: "The reviewer asks you to change this", refusedItem: "Refused by the server",
  fixItems: "{n} thing(s) to fix, marked below", submission: "Submission", returnedPrefilled: "Your last submission's answers and photos are filled in: change only the {n} marked item(s)",
  refusedTitle: "The server refused this submission", refusedWhat: "Your answers and photos are still on the phone. Fix these and submit again:",
  lockedDraft: "Submitted and waiting to sync; the phone keeps everything until the server confirms it.", serverError: "Server error: it will retry by itself",
  doReplacePhoto: "Open the visit, remove or retake this photo and submit again", doFixItems: "Open the visit, fix the marked items and submit again",
  doContact: "Export the outbox and contact the back office", visitRefused: "Refused", visitSynced: "Synced", openToFix: "Open and fix",
  cameraClock: "camera clock", byPhone: "by the phone", fromSite: "{d} from the declared site", photoCountShort: "{n} photo(s)", askToChange: "Ask to change",
  photoState: { received: "Received", processing: "Processing", processed: "Processed", failed: "Processing failed" },
  photoPart: "Photo", decision: "Decision", taskDue: "Fix by", occurrences: "found {n} time(s)", problem: "Something went wrong",
  syncFirst: "Sync first", signOutAnyway: "Sign out anyway", cancel: "Cancel",
  storage: "{u} used, {n} item(s) not synced", persisted: "Persistent storage granted", notPersisted: "The browser refused persistent storage: add the app to the home screen and sync soon",
  findings: "Findings", noFindings: "No findings", incomplete: "Photos still missing", conflict: "Conflict",
  approve: "Approve", returnVisit: "Return", comment: "Comment", queueEmpty: "Nothing to review",
  observed: "Observed", declaredVsObserved: "Declared vs observed", map: "Location", checkInPoint: "Check-in", declaredPoint: "Declared site",
  takenAt: "Taken", place: "Place", unknown: "unknown", allStates: "All states", allSeverities: "All severities", overdueOnly: "Overdue only",
  taskState: { open: "Open", in_progress: "In progress", resolved: "Resolved", waived: "Waived" },
  severity: { critical: "Critical", major: "Major", minor: "Minor" },
  start: "Start", resolve: "Resolve", waive: "Waive", reason: "Reason", addComment: "Add comment",
  newVersion: "A new version is ready", reload: "Reload", online: "Online", offline: "Offline",
  exportOutbox: "Export the outbox", back: "Back", visit: "Visit", item: "Item", answer: "Answer",
};
const tables = { "zh-CN": zh, en };
let current = localStorage.getItem("fv.lang") || "zh-CN";

export function lang() { return current; }
export function setLang(value) { current = tables[value] ? value : "zh-CN"; localStorage.setItem("fv.lang", current); document.documentElement.lang = current; }
export function t(key, vars = {}) {
  const path = key.split(".");
  let value = path.reduce((node, part) => (node ? node[part] : undefined), tables[current]);
  if (value === undefined) value = path.reduce((node, part) => (node ? node[part] : undefined), zh) ?? key;
  return String(value).replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? ""));
}
// Pick the label of a bilingual record: {label_zh, label_en} or {name_zh, name_en} or {title_zh, title_en}.
export function pick(record, base = "label") {
  return current === "en" ? record[`${base}_en`] : record[`${base}_zh`];
}
// A day as a day; an instant in the bank's zone; `local` a wall-clock time as written (a camera's clock).
export function date(value, { local = false } = {}) {
  if (!value) return "";
  const day = value.length === 10;
  const d = new Date(day ? value + "T00:00:00" : value);
  if (Number.isNaN(d.getTime())) return String(value);
  const style = day ? { dateStyle: "medium" } : local ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Shanghai" };
  return new Intl.DateTimeFormat(current, style).format(d);
}
export function metres(m) {
  if (m == null) return "";
  return m >= 1000 ? `${(m / 1000).toFixed(1)} ${current === "en" ? "km" : "公里"}` : `${Math.round(m)} ${current === "en" ? "m" : "米"}`;
}
setLang(current);
