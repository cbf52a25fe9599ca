from lofictl.cli import app

app(prog_name="lofictl")
