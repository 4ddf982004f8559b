extends Node
## Signs in, connects, queues for a match and prints every match state.
## Add an AsobiClient node as a child named "AsobiClient".

@onready var asobi: AsobiClient = $AsobiClient


func _ready() -> void:
	asobi.configure("http://localhost:8080", "", "")
	asobi.request_completed.connect(_on_request_completed)
	asobi.request_failed.connect(_on_request_failed)
	asobi.match_state.connect(_on_match_state)
	asobi.auth.login("player1", "secret123")


func _on_request_completed(_request_id: int, reply_type: String, _result: Variant) -> void:
	if reply_type == "auth.login":
		asobi.realtime.connect_to_server()
	elif reply_type == "session.connected":
		asobi.realtime.add_to_matchmaker("arena")


func _on_request_failed(_request_id: int, code: String, message: String) -> void:
	push_error("asobi: %s (%s)" % [code, message])


func _on_match_state(state: Variant) -> void:
	print(state)


func _unhandled_input(event: InputEvent) -> void:
	if event.is_action_pressed("ui_right"):
		asobi.realtime.send_match_input('{"right": true}')
